package main

import (
	"net"
	"net/http"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/examples/lab/labserver"
)

// The protocol lab, the demo's front door, is mounted at /lab/. Its
// measurements count the bytes of each TCP connection, which takes the
// listener and the http.Server's ConnContext below (without them it
// estimates, and says so).

func (d *demo) mountLab(hook func(*http.Request, *conn.AcceptOptions) func(*conn.Conn)) {
	d.mount("/lab", labserver.New(labserver.Config{AcceptHook: hook}))
	d.lab = true
}

// listener wraps the demo's listener for the lab's byte counts.
func listener(ln net.Listener) net.Listener { return labserver.CountingListener(ln) }

// configure sets what the lab needs on the demo's http.Server.
func configure(hs *http.Server) { hs.ConnContext = labserver.ConnContext }
