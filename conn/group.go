package conn

import (
	"context"
	"net/http"
	"sync"

	"github.com/ws6455/ws6455/wsframe"
)

// Group tracks a server's live connections so that they can all be closed
// at shutdown: http.Server.Shutdown does not know about hijacked
// connections. The zero value is ready to use.
//
//	var g conn.Group
//	http.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
//		c, err := g.Accept(w, r, nil)
//		...
//	})
//	...
//	srv.Shutdown(ctx)
//	g.Shutdown(ctx) // 1001 to every client, then wait for the handshakes
type Group struct {
	mu       sync.Mutex
	conns    map[*Conn]struct{}
	shutdown bool
}

// Accept is conn.Accept, with the new connection added to the group. After
// Shutdown has begun it refuses new connections with 503.
func (g *Group) Accept(w http.ResponseWriter, r *http.Request, opts *AcceptOptions) (*Conn, error) {
	g.mu.Lock()
	down := g.shutdown
	g.mu.Unlock()
	if down {
		http.Error(w, "server is shutting down", http.StatusServiceUnavailable)
		return nil, ErrClosed
	}
	c, err := Accept(w, r, opts)
	if err != nil {
		return nil, err
	}
	g.Add(c)
	return c, nil
}

// Add adds c to the group; it leaves the group by itself when it ends. If
// Shutdown has begun, c is closed with 1001 at once.
func (g *Group) Add(c *Conn) {
	g.mu.Lock()
	if g.shutdown {
		g.mu.Unlock()
		go c.Close(wsframe.CloseGoingAway, "server shutting down")
		return
	}
	if g.conns == nil {
		g.conns = make(map[*Conn]struct{})
	}
	g.conns[c] = struct{}{}
	g.mu.Unlock()
	c.onClose(func() {
		g.mu.Lock()
		delete(g.conns, c)
		g.mu.Unlock()
	})
}

// Len returns the number of live connections in the group.
func (g *Group) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.conns)
}

// Shutdown closes every connection with 1001 (going away), running the
// close handshakes concurrently, and waits until all have ended or ctx is
// done; then it drops those that are left and returns ctx.Err().
func (g *Group) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	g.shutdown = true
	conns := make([]*Conn, 0, len(g.conns))
	for c := range g.conns {
		conns = append(conns, c)
	}
	g.mu.Unlock()
	done := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		for _, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.Close(wsframe.CloseGoingAway, "server shutting down")
			}()
		}
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, c := range conns {
			c.abort() // at once: the time for close frames is up
		}
		return ctx.Err()
	}
}
