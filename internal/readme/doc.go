// Package readme holds a test that compiles every Go snippet in the
// project's README.md, so that what a newcomer copies builds as shown,
// imports included.
package readme
