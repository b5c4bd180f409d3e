// Command repops is the operations console for the reputation system: a
// terminal dashboard and the operations guide's procedures, made safe.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd(os.Stdin, os.Stdout, os.Stderr).ExecuteContext(ctx)
	stop()
	code := exitCode(err)
	if err != nil && !isSilent(err) {
		fmt.Fprintf(os.Stderr, "repops: %v\n", err)
	}
	os.Exit(code)
}
