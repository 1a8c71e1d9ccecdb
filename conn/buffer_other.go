//go:build !unix

package conn

// initRaw leaves every connection to be read through its Read method:
// waiting for readability without a buffer is implemented for unix only.
func (b *bufReader) initRaw() {}

// rawRead is never called where initRaw sets no raw connection.
func (b *bufReader) rawRead() error { return nil }

// readDirect is never called where initRaw sets no raw connection.
func (b *bufReader) readDirect(p []byte) (int, error) { return 0, nil }
