package chatserver

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseCommand: any message gets either a valid "say" command or a
// problem that fits an error event; never a panic.
func FuzzParseCommand(f *testing.F) {
	f.Add([]byte(`{"type":"say","text":"hello"}`))
	f.Add([]byte(`{"type":"shout","text":"x"}`))
	f.Add([]byte(`{"type":`))
	f.Fuzz(func(t *testing.T, msg []byte) {
		cmd, problem := parseCommand(msg)
		if problem != "" {
			if len(problem) > 200 || !utf8.ValidString(problem) {
				t.Fatalf("problem %q: too long or not UTF-8", problem)
			}
			// It must survive the trip through JSON in an error event.
			if _, err := json.Marshal(Event{Type: "error", Text: problem}); err != nil {
				t.Fatal(err)
			}
			return
		}
		if cmd.Type != "say" || strings.TrimSpace(cmd.Text) == "" || len(cmd.Text) > MaxTextLen {
			t.Fatalf("accepted %+v from %q", cmd, msg)
		}
	})
}

// FuzzCheckNick: an accepted nickname is short, valid, printable UTF-8
// without surrounding space.
func FuzzCheckNick(f *testing.F) {
	f.Add("ada")
	f.Add(" ada")
	f.Add("a\x07b")
	f.Fuzz(func(t *testing.T, nick string) {
		if checkNick(nick) != nil {
			return
		}
		if nick == "" || len(nick) > MaxNickLen || !utf8.ValidString(nick) || strings.TrimSpace(nick) != nick {
			t.Fatalf("accepted %q", nick)
		}
		if strings.ContainsAny(nick, "\x00\n\r\t") {
			t.Fatalf("accepted control characters in %q", nick)
		}
	})
}

// FuzzParseID: an accepted id is two decimal numbers joined by "-" and
// compares equal to its canonical form; anything else is an error, never
// a panic.
func FuzzParseID(f *testing.F) {
	f.Add("1700000000000-0")
	f.Add("0-0")
	f.Add("1-2-3")
	f.Fuzz(func(t *testing.T, id string) {
		ms, seq, err := ParseID(id)
		if err != nil || id == "" {
			return
		}
		a, b, ok := strings.Cut(id, "-")
		digits := func(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }
		if !ok || !digits(a) || !digits(b) {
			t.Fatalf("accepted %q", id)
		}
		canon := strconv.FormatUint(ms, 10) + "-" + strconv.FormatUint(seq, 10)
		if CompareIDs(id, canon) != 0 || CompareIDs(id, id) != 0 {
			t.Fatalf("%q is not %s", id, canon)
		}
	})
}
