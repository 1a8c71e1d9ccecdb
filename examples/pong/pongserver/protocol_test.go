package pongserver

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRequest(t *testing.T) {
	tok := strings.Repeat("ab", 16)
	tests := []struct {
		in   string
		want request
		code string
	}{
		{`{"type":"create","data":{"game":"friday"}}`, request{Type: typeCreate, Game: "friday"}, ""},
		{`{"type":"join","data":{"game":"  a b-c_9 "}}`, request{Type: typeJoin, Game: "a b-c_9"}, ""},
		{`{"type":"spectate","data":{"game":"x"}}`, request{Type: typeSpectate, Game: "x"}, ""},
		{`{"type":"rejoin","data":{"game":"x","token":"` + tok + `"}}`, request{Type: typeRejoin, Game: "x", Token: tok}, ""},
		{`{"type":"move","data":{"dir":"up","seq":3}}`, request{Type: typeMove, Dir: DirUp, Seq: 3}, ""},
		{`{"type":"move","data":{"dir":"down"}}`, request{Type: typeMove, Dir: DirDown}, ""},
		{`{"type":"move","data":{"dir":"none","seq":18446744073709551615}}`, request{Type: typeMove, Dir: DirNone, Seq: 1<<64 - 1}, ""},
		{`{"type":"leave"}`, request{Type: typeLeave}, ""},
		{`{"type":"leave","data":{}}`, request{Type: typeLeave}, ""},
		{`{"type":"rematch"}`, request{Type: typeRematch}, ""},
		{`{"type":"rematch","data":null}`, request{Type: typeRematch}, ""},

		{``, request{}, CodeBadJSON},
		{`null`, request{}, CodeBadJSON},
		{`{"type":1}`, request{}, CodeBadJSON},
		{`{"data":{}}`, request{}, CodeBadJSON},
		{`{"type":"create","data":{"game":"x"}} trailing`, request{}, CodeBadJSON},
		{`{"type":"fly"}`, request{}, CodeUnknownType},
		{`{"type":"state","data":{}}`, request{}, CodeUnknownType},
		{`{"type":"create"}`, request{}, CodeBadData},
		{`{"type":"create","data":"x"}`, request{}, CodeBadData},
		{`{"type":"create","data":{"game":""}}`, request{}, CodeBadData},
		{`{"type":"create","data":{"game":"é"}}`, request{}, CodeBadData},
		{`{"type":"create","data":{"game":"x","extra":1}}`, request{}, CodeBadData},
		{`{"type":"rejoin","data":{"game":"x","token":"short"}}`, request{}, CodeBadData},
		{`{"type":"move","data":{"dir":"UP"}}`, request{}, CodeBadData},
		{`{"type":"move","data":{"dir":"up","seq":-1}}`, request{}, CodeBadData},
		{`{"type":"move","data":{"dir":"up","y":0}}`, request{}, CodeBadData},
		{`{"type":"leave","data":{"x":1}}`, request{}, CodeBadData},
		{`{"type":"rematch","data":{"game":"x"}}`, request{}, CodeBadData},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseRequest([]byte(tt.in))
			if tt.code == "" {
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
				return
			}
			var pe *protoError
			require.True(t, errors.As(err, &pe), "error %v", err)
			assert.Equal(t, tt.code, pe.Code)
			assert.NotEmpty(t, pe.Msg)
		})
	}
}

// FuzzParseRequest checks that no input makes the parser panic, and that
// what it accepts is valid: a known type, a clean name, a direction in
// range, a token of the right length.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"type":"create","data":{"game":"friday"}}`,
		`{"type":"move","data":{"dir":"up","seq":3}}`,
		`{"type":"rejoin","data":{"game":"x","token":"` + strings.Repeat("0", 32) + `"}}`,
		`{"type":"leave"}`,
		`{"type":"rematch"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		req, err := parseRequest(msg)
		if err != nil {
			var pe *protoError
			if !errors.As(err, &pe) || pe.Code == "" || pe.Msg == "" {
				t.Fatalf("error without a code: %v", err)
			}
			return
		}
		switch req.Type {
		case typeCreate, typeJoin, typeSpectate, typeRejoin:
			if n, err := cleanName(req.Game); err != nil || n != req.Game {
				t.Fatalf("accepted game name %q", req.Game)
			}
			if req.Type == typeRejoin && len(req.Token) != tokenLen {
				t.Fatalf("accepted token %q", req.Token)
			}
		case typeMove:
			if req.Dir < DirUp || req.Dir > DirDown {
				t.Fatalf("accepted direction %d", req.Dir)
			}
		case typeLeave, typeRematch:
		default:
			t.Fatalf("accepted type %q", req.Type)
		}
	})
}
