package conn_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/wsframe"
)

// hub is the broadcast pattern: every member has a send queue of its own,
// drained by a writer goroutine of its own, so one member that reads slowly
// never holds the others back. A member whose queue is full is dropped
// (closed with 1008) instead of making the broadcast wait. The chat example
// (examples/chat/chatserver) is a complete version: rooms, presence, limits
// on what members send, and graceful shutdown with conn.Group.
type hub struct {
	mu      sync.Mutex
	members map[*conn.Conn]chan *conn.PreparedMessage
}

// join registers c and runs its writer until the queue is closed or a write
// fails. The queue's capacity is the burst a member may fall behind by.
func (h *hub) join(c *conn.Conn) {
	q := make(chan *conn.PreparedMessage, 64)
	h.mu.Lock()
	h.members[c] = q
	h.mu.Unlock()
	go func() {
		for pm := range q {
			if err := c.WritePrepared(context.Background(), pm); err != nil {
				h.leave(c)
				return
			}
		}
	}()
}

func (h *hub) leave(c *conn.Conn) {
	h.mu.Lock()
	q, ok := h.members[c]
	delete(h.members, c)
	h.mu.Unlock()
	if ok {
		close(q)
	}
}

// broadcast encodes the message once and queues it for every member; it
// never blocks on a member.
func (h *hub) broadcast(text string) {
	pm, err := conn.NewPreparedMessage(conn.MessageText, []byte(text))
	if err != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for c, q := range h.members {
		select {
		case q <- pm:
		default: // too slow: drop it rather than wait
			delete(h.members, c)
			close(q)
			go c.Close(wsframe.ClosePolicyViolation, "too slow")
		}
	}
}

// Broadcast to many connections through a hub: one queue and one writer per
// connection, and a message encoded once for all of them.
func Example_hub() {
	h := &hub{members: make(map[*conn.Conn]chan *conn.PreparedMessage)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, nil)
		if err != nil {
			return
		}
		h.join(c)
		defer h.leave(c)
		for { // this member's reads: each message goes to everyone
			_, msg, err := c.Read(context.Background())
			if err != nil {
				return
			}
			h.broadcast(string(msg))
		}
	}))
	defer srv.Close()

	ctx := context.Background()
	var clients []*conn.Conn
	for i := 0; i < 3; i++ {
		c, _, err := conn.Dial(ctx, wsURL(srv), nil)
		if err != nil {
			log.Fatal(err)
		}
		defer c.CloseNow()
		clients = append(clients, c)
	}
	// Wait until the hub has all three before the first broadcast.
	for {
		h.mu.Lock()
		n := len(h.members)
		h.mu.Unlock()
		if n == 3 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	clients[0].Write(ctx, conn.MessageText, []byte("hello, everyone"))
	for i, c := range clients {
		_, msg, err := c.Read(ctx)
		fmt.Println(i, string(msg), err)
	}
	// Output:
	// 0 hello, everyone <nil>
	// 1 hello, everyone <nil>
	// 2 hello, everyone <nil>
}
