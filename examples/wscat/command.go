package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ws6455/ws6455/wsframe"
)

// cmdKind is what an input line asks for when slash commands are on.
type cmdKind int

const (
	cmdSend   cmdKind = iota // send the text as a message
	cmdPing                  // /ping
	cmdClose                 // /close [CODE [REASON]]
	cmdBinary                // /binary: send the next lines as binary messages
	cmdText                  // /text: send the next lines as text messages
	cmdHelp                  // /help
)

// command is a parsed input line.
type command struct {
	kind   cmdKind
	text   string            // cmdSend: the message
	code   wsframe.CloseCode // cmdClose
	reason string            // cmdClose
}

// commandHelp is printed by /help.
const commandHelp = `commands:
  /ping                send a ping and print the round trip
  /close [CODE [REASON]]
                       close with CODE (default 1000) and REASON, and exit
  /binary              send the following lines as binary messages
  /text                send the following lines as text messages
  /help                this list
  //...                send the line starting with a single "/"`

// parseCommand reads one input line. A line not starting with "/" is a
// message; "//" escapes a message that starts with "/".
func parseCommand(line string) (command, error) {
	if !strings.HasPrefix(line, "/") {
		return command{kind: cmdSend, text: line}, nil
	}
	if strings.HasPrefix(line, "//") {
		return command{kind: cmdSend, text: line[1:]}, nil
	}
	name, args, _ := strings.Cut(line[1:], " ")
	args = strings.TrimSpace(args)
	noArgs := func(c command) (command, error) {
		if args != "" {
			return command{}, fmt.Errorf("/%s takes no arguments", name)
		}
		return c, nil
	}
	switch name {
	case "ping":
		return noArgs(command{kind: cmdPing})
	case "binary":
		return noArgs(command{kind: cmdBinary})
	case "text":
		return noArgs(command{kind: cmdText})
	case "help", "?":
		return command{kind: cmdHelp}, nil
	case "close":
		code, reason, err := parseClose(args)
		if err != nil {
			return command{}, err
		}
		return command{kind: cmdClose, code: code, reason: reason}, nil
	}
	return command{}, fmt.Errorf("unknown command %q (/help lists them; start a message with // to send it)", truncate("/"+name, 40))
}

// parseClose reads "[CODE [REASON]]", also as "CODE, REASON" (Node's
// wscat). The code must be one an endpoint may send (RFC 6455 §7.4) and
// the reason must fit in a close frame.
func parseClose(args string) (wsframe.CloseCode, string, error) {
	if args == "" {
		return wsframe.CloseNormal, "", nil
	}
	num, reason, _ := strings.Cut(args, " ")
	num, comma := strings.CutSuffix(num, ",")
	reason = strings.TrimSpace(reason)
	if !comma {
		reason = strings.TrimPrefix(reason, ",")
		reason = strings.TrimSpace(reason)
	}
	n, err := strconv.ParseUint(num, 10, 16)
	if err != nil {
		return 0, "", fmt.Errorf("/close: want a close code first, got %q", truncate(num, 20))
	}
	code := wsframe.CloseCode(n)
	if !code.ValidOnWire() {
		return 0, "", fmt.Errorf("/close: code %d may not be sent (use 1000-1003, 1007-1014 or 3000-4999)", n)
	}
	if !utf8.ValidString(reason) {
		return 0, "", errors.New("/close: the reason is not valid UTF-8")
	}
	if len(reason) > wsframe.MaxCloseReason {
		return 0, "", fmt.Errorf("/close: the reason is %d bytes, at most %d fit in a close frame", len(reason), wsframe.MaxCloseReason)
	}
	return code, reason, nil
}

// truncate cuts s for an error message, on a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
