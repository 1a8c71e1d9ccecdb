// Package suite is a built-in WebSocket conformance suite that runs the
// Autobahn testsuite's case catalogue (groups 1-7, 9, 10, 12 and 13) in Go.
//
// The catalogue ([Cases]) is data plus small per-case scripts: each case
// sends frames (possibly malformed: any opcode, RSV bits or length, in
// chopped writes, with delays), records what the peer sends back and judges
// it with the same rules as the real suite: a behaviour verdict (OK,
// NON-STRICT, INFORMATIONAL, UNIMPLEMENTED, FAILED) from the events it
// received, and a close verdict (OK, WRONG CODE, UNCLEAN, FAILED BY CLIENT,
// FAILED, INFORMATIONAL) from the closing handshake.
//
// The suite runs in two roles. As a fuzzing client ([FuzzingClient]) it
// connects to a server under test, one connection per case. As a fuzzing
// server ([Server]) it accepts a client under test that speaks the real
// suite's control protocol (/getCaseCount, /runCase, /updateReports). Either
// way [WriteReports] writes an index.json in the real suite's layout, one
// JSON report per case and a static HTML summary.
//
// The suite deliberately does not use this module's handshake or conn
// packages: a tool must not trust the code it tests. It uses wsframe for
// the frame header codec, masking and incremental UTF-8 checks, and does
// all protocol bookkeeping itself, the way the real suite's engine does:
// its own opening handshake, frame rules, closing handshake, timers and
// permessage-deflate (with compress/flate).
package suite
