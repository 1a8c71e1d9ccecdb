// Package testee holds what the Autobahn testee server and client share:
// the echo loop that the suite expects from the connection under test.
package testee

import (
	"context"

	"github.com/ws6455/ws6455/conn"
)

// ReadLimit is large enough for the suite's biggest messages (16 MiB in
// cases 9.1.6 and 9.2.6) with room to spare.
const ReadLimit = 64 << 20

// Echo sends every message back, with its type, until the connection ends,
// and returns the error that ended it. One buffer is reused for every
// message.
func Echo(ctx context.Context, c *conn.Conn) error {
	var buf []byte
	for {
		typ, msg, err := c.ReadInto(ctx, buf)
		if err != nil {
			return err
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			return err
		}
		buf = msg
	}
}
