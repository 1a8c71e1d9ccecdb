// Package site holds what every example page shares: one stylesheet (light
// and dark) and the favicon, so that the echo, chat, Pong and lab pages look
// like one product whether they are served by the demo or on their own.
//
// Each example server mounts Register on its own mux; its page then links
// the files relative to itself ("site.css", "favicon.svg"), which works both
// standalone and under the demo's prefixes.
package site

import (
	_ "embed"
	"net/http"
)

//go:embed site.css
var css []byte

//go:embed favicon.svg
var favicon []byte

// CSS is the shared stylesheet.
func CSS() []byte { return css }

// Register serves GET /site.css and GET /favicon.svg (also answering
// /favicon.ico, which browsers ask for on their own) on mux.
func Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /site.css", serve("text/css; charset=utf-8", css))
	mux.HandleFunc("GET /favicon.svg", serve("image/svg+xml", favicon))
	mux.HandleFunc("GET /favicon.ico", serve("image/svg+xml", favicon))
}

func serve(ctype string, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Write(body)
	}
}
