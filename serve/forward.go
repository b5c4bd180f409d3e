package serve

import (
	"charm.land/ssh"
	gossh "golang.org/x/crypto/ssh"
)

// refuseForwarding is the "session" channel handler: the library's, with
// agent and X11 forwarding requests refused. Decision: the library
// accepts an agent forwarding request (and only opens the agent channel
// when a handler asks for it); repops refuses it outright, so that the
// client is told, and nothing of the operator's agent is ever offered to
// the server.
func refuseForwarding(srv *ssh.Server, conn *gossh.ServerConn, nc gossh.NewChannel, ctx ssh.Context) {
	ssh.DefaultSessionHandler(srv, conn, filteredChannel{nc}, ctx)
}

type filteredChannel struct{ gossh.NewChannel }

// refusedRequests are the session requests refused before the library
// sees them.
var refusedRequests = map[string]bool{"auth-agent-req@openssh.com": true, "x11-req": true}

func (c filteredChannel) Accept() (gossh.Channel, <-chan *gossh.Request, error) {
	ch, reqs, err := c.NewChannel.Accept()
	if err != nil {
		return ch, reqs, err
	}
	out := make(chan *gossh.Request)
	go func() {
		defer close(out)
		for r := range reqs {
			if refusedRequests[r.Type] {
				if r.WantReply {
					_ = r.Reply(false, nil)
				}
				continue
			}
			out <- r
		}
	}()
	return ch, out, nil
}
