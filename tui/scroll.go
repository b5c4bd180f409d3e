package tui

import (
	"fmt"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// wheelLines is how far one turn of the mouse wheel scrolls a pane.
const wheelLines = 3

// scroller is how every pane of the console scrolls, so that the keys
// behave the same in the help, the dashboard, the journal, the tables and
// a runbook run: ↑/k and ↓/j move one line, pgup/pgdn/space one page,
// g/home and G/end go to the top and the bottom, the wheel moves three
// lines. The offset is always clamped (never negative, never past the
// last page), so a key pressed after scrolling too far answers at once.
//
// A scroller holds no lines, only their count: a view measures what it
// would draw, calls SetSize (or Fit, which keeps a line for the marker),
// then draws Window(lines) and, when the content does not fit, Marker()
// on the pane's last line. The zero value is ready to use. A view whose
// content depends on the width sizes its scroller in Update too, before
// passing it keys, so the first key after a change already moves.
//
//	v.scroll.Fit(len(lines), h)
//	out := v.scroll.Window(lines)
//	if m := v.scroll.Marker(); m != "" {
//		out = append(out, st.Muted.Render(m))
//	}
type scroller struct {
	offset  int // first line shown
	content int // lines in the content
	view    int // lines the pane shows
}

// SetSize records the content's and the pane's heights, in lines, and
// clamps the offset to them.
func (s *scroller) SetSize(content, view int) {
	s.content, s.view = max(0, content), max(1, view)
	s.clamp()
}

// Fit sizes the scroller for a pane of height lines that shows the
// marker on its own last line when the content does not fit: the content
// then gets one line less.
func (s *scroller) Fit(content, height int) {
	if content > height {
		height--
	}
	s.SetSize(content, height)
}

// Fits reports whether the whole content is in view.
func (s scroller) Fits() bool { return s.content <= s.view }

// Offset is the index of the first line in view.
func (s scroller) Offset() int { return s.offset }

// maxOffset is the offset that shows the last page.
func (s scroller) maxOffset() int { return max(0, s.content-s.view) }

// AtTop reports whether the first line is in view.
func (s scroller) AtTop() bool { return s.offset == 0 }

// AtBottom reports whether the last line is in view (a pane that follows
// new lines, like the journal, keeps following while it is).
func (s scroller) AtBottom() bool { return s.offset >= s.maxOffset() }

func (s *scroller) clamp() { s.offset = max(0, min(s.offset, s.maxOffset())) }

// ScrollBy moves the view n lines down (up when n is negative).
func (s *scroller) ScrollBy(n int) {
	s.offset += n
	s.clamp()
}

// ScrollTo puts line i at the top of the view, as far as it can.
func (s *scroller) ScrollTo(i int) {
	s.offset = i
	s.clamp()
}

// Top and Bottom show the first and the last page.
func (s *scroller) Top()    { s.offset = 0 }
func (s *scroller) Bottom() { s.offset = s.maxOffset() }

// Show scrolls as little as it can to bring line i into view: for a list
// whose selected row must stay visible.
func (s *scroller) Show(i int) {
	switch {
	case i < s.offset:
		s.offset = i
	case i >= s.offset+s.view:
		s.offset = i - s.view + 1
	}
	s.clamp()
}

// page is how far pgup and pgdn move: the pane's height.
func (s scroller) page() int { return max(1, s.view) }

// Update moves the view for a scroll key of k or a turn of the mouse
// wheel, and reports whether msg was one (so a view can leave the other
// keys to its own handling).
func (s *scroller) Update(msg tea.Msg, k *KeyMap) bool {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		return s.Key(msg, k)
	case tea.MouseWheelMsg:
		return s.Wheel(msg)
	}
	return false
}

// Key moves the view for a scroll key and reports whether msg was one.
func (s *scroller) Key(msg tea.KeyPressMsg, k *KeyMap) bool {
	switch {
	case key.Matches(msg, k.Down):
		s.ScrollBy(1)
	case key.Matches(msg, k.Up):
		s.ScrollBy(-1)
	case key.Matches(msg, k.PageDown):
		s.ScrollBy(s.page())
	case key.Matches(msg, k.PageUp):
		s.ScrollBy(-s.page())
	case key.Matches(msg, k.Top):
		s.Top()
	case key.Matches(msg, k.Bottom):
		s.Bottom()
	default:
		return false
	}
	return true
}

// Wheel moves the view three lines for a turn of the mouse wheel and
// reports whether msg was an up or down turn.
func (s *scroller) Wheel(msg tea.MouseWheelMsg) bool {
	switch msg.Button {
	case tea.MouseWheelDown:
		s.ScrollBy(wheelLines)
	case tea.MouseWheelUp:
		s.ScrollBy(-wheelLines)
	default:
		return false
	}
	return true
}

// Window is the part of lines in view. It clamps with the length of
// lines, so a view that drew fewer lines than it last measured still gets
// its last page rather than nothing.
func (s scroller) Window(lines []string) []string {
	s.SetSize(len(lines), s.view)
	return lines[s.offset:min(len(lines), s.offset+s.view)]
}

// Marker says where the view is, for the pane's footer: "lines 1–21 of
// 60 · ↓ 39 more", or "lines 40–60 of 60 · end" on the last page. It is
// empty when the whole content is in view.
func (s scroller) Marker() string {
	if s.Fits() {
		return ""
	}
	last := min(s.content, s.offset+s.view)
	m := fmt.Sprintf("lines %d–%d of %d", s.offset+1, last, s.content)
	if more := s.content - last; more > 0 {
		return m + fmt.Sprintf(" · ↓ %d more", more)
	}
	return m + " · end"
}
