// Package wsframe is the frame layer of the WebSocket protocol (RFC 6455):
// the frame header codec, masking, opcodes, close codes and close
// payloads, incremental UTF-8 validation, and a streaming frame reader
// and writer. It knows nothing about connections, handshakes or
// extensions, and can be used on its own, for example to write a proxy or
// a frame tracer.
//
// # Wire format
//
// A frame is a header of 2 to 14 bytes followed by the payload:
//
//	byte 0:   FIN | RSV1 | RSV2 | RSV3 | opcode (4 bits)
//	byte 1:   MASK | length (7 bits): 0-125, or 126 (16-bit length follows),
//	          or 127 (64-bit length follows, top bit zero)
//	then:     the extended length, big-endian, if any
//	then:     the 4-byte masking key, if MASK is set
//
// For example, an unmasked final text frame carrying "Hi" is
// 0x81 0x02 'H' 'i', and a client's masked ping with an empty payload is
// 0x89 0x80 followed by its four key bytes. Clients mask every frame they
// send; servers never mask.
//
// # Layers of checking
//
// ParseHeader and ReadHeader check only the encoding. Header.Check applies
// the rules that hold on every connection (reserved opcodes, control
// frame size and fragmentation, a size limit). Everything that depends on
// the connection — which side masks, which RSV bits the negotiated
// extensions allow, fragmentation order — belongs to the caller. Every
// protocol violation is an *Error carrying the close code to send, so a
// connection can fail with
//
//	var perr *wsframe.Error
//	if errors.As(err, &perr) { /* send a close frame with perr.Code, perr.Reason */ }
//
// # Cost
//
// AppendHeader, ParseHeader, Mask, UTF8Validator and ParseClosePayload
// (for an empty reason) do not allocate. Reader and Writer allocate once,
// when created, and stream payloads of any size through small buffers.
package wsframe
