package wsframe

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestOpcodeClasses(t *testing.T) {
	tests := []struct {
		op                      Opcode
		control, data, reserved bool
		name                    string
	}{
		{OpContinuation, false, true, false, "continuation"},
		{OpText, false, true, false, "text"},
		{OpBinary, false, true, false, "binary"},
		{0x3, false, true, true, "reserved(0x3)"},
		{0x4, false, true, true, "reserved(0x4)"},
		{0x5, false, true, true, "reserved(0x5)"},
		{0x6, false, true, true, "reserved(0x6)"},
		{0x7, false, true, true, "reserved(0x7)"},
		{OpClose, true, false, false, "close"},
		{OpPing, true, false, false, "ping"},
		{OpPong, true, false, false, "pong"},
		{0xB, true, false, true, "reserved(0xb)"},
		{0xC, true, false, true, "reserved(0xc)"},
		{0xD, true, false, true, "reserved(0xd)"},
		{0xE, true, false, true, "reserved(0xe)"},
		{0xF, true, false, true, "reserved(0xf)"},
		{0x10, false, false, true, "reserved(0x10)"},
		{0xFF, false, false, true, "reserved(0xff)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.control, tt.op.IsControl(), "IsControl")
			assert.Equal(t, tt.data, tt.op.IsData(), "IsData")
			assert.Equal(t, tt.reserved, tt.op.IsReserved(), "IsReserved")
			assert.Equal(t, tt.name, tt.op.String())
		})
	}
}
