package conn

import (
	"context"
	"net"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/wsframe"
)

// TestCloseTimesOutWhenThePeerNeverAnswers runs in a synctest bubble: the
// close timeout passes in fake time, and the test asserts the order of
// events, not durations.
func TestCloseTimesOutWhenThePeerNeverAnswers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		c := New(a, nil, false, "", &Options{CloseTimeout: 3 * time.Second})
		got := make(chan []byte, 1)
		go func() { // a peer that reads the close frame and never answers
			buf := make([]byte, 64)
			n, _ := b.Read(buf)
			got <- buf[:n]
			for {
				if _, err := b.Read(buf); err != nil {
					return
				}
			}
		}()
		start := time.Now()
		err := c.Close(wsframe.CloseNormal, "bye")
		require.ErrorIs(t, err, errCloseTimeout)
		require.Equal(t, 3*time.Second, time.Since(start), "fake time: exactly the close timeout")
		require.Equal(t, []byte{0x88, 5, 0x03, 0xe8, 'b', 'y', 'e'}, <-got)
		<-c.Done()
	})
}

// TestClientWaitsForTheServerToCloseTCP: after the close frames, a client
// gives the server the close timeout to close the TCP connection first.
func TestClientWaitsForTheServerToCloseTCP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		c := New(a, nil, true, "", &Options{CloseTimeout: 2 * time.Second})
		res := make(chan error, 1)
		go func() { _, _, err := c.Read(context.Background()); res <- err }()
		// The server sends its close and, a second later, closes TCP.
		b.Write([]byte{0x88, 2, 0x03, 0xe8})
		buf := make([]byte, 64)
		n, _ := b.Read(buf) // the client's echo (masked)
		require.Equal(t, byte(0x88), buf[0])
		require.Equal(t, 2+4+2, n)
		time.Sleep(time.Second)
		synctest.Wait()
		select {
		case <-c.Done():
			t.Fatal("the client closed TCP before the server")
		default:
		}
		b.Close()
		require.Equal(t, wsframe.CloseNormal, CloseCode(<-res))
		<-c.Done()
	})
}

func TestKeepaliveClosesADeadConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		c := New(a, nil, false, "", &Options{PingInterval: 10 * time.Second, PingTimeout: 5 * time.Second, CloseTimeout: time.Second})
		go c.Read(context.Background())
		buf := make([]byte, 64)
		start := time.Now()
		n, err := b.Read(buf) // a peer that reads but never answers
		require.NoError(t, err)
		require.Equal(t, byte(0x89), buf[0], "a ping")
		require.Equal(t, 10*time.Second, time.Since(start))
		n, err = b.Read(buf)
		require.NoError(t, err)
		require.Equal(t, []byte{0x88, 2 + 17, 0x03, 0xe9}, buf[:4], "then close 1001")
		require.Equal(t, "keepalive timeout", string(buf[4:n]))
		require.Equal(t, 15*time.Second, time.Since(start))
		<-c.Done()
	})
}

func TestKeepaliveStaysQuietWhileFramesArrive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		c := New(a, nil, false, "", &Options{PingInterval: 10 * time.Second})
		defer c.CloseNow()
		go c.Read(context.Background())
		p := &rawPeer{t: t, client: true}
		got := make(chan byte, 10)
		go func() {
			buf := make([]byte, 64)
			for {
				if _, err := b.Read(buf); err != nil {
					return
				}
				got <- buf[0]
			}
		}()
		for i := 0; i < 5; i++ { // a pong every 6 s: never 10 s of silence
			time.Sleep(6 * time.Second)
			b.Write(p.frame(true, 0, wsframe.OpPong, nil))
		}
		synctest.Wait()
		require.Empty(t, got, "no ping while the peer is talking")
	})
}

// TestFragmentFloodCostsNoMemoryPerFragment reads a message made of 10,000
// one-byte fragments: the allocations must not grow with the count.
func TestFragmentFloodCostsNoMemoryPerFragment(t *testing.T) {
	c, p := serverWithPeer(t, nil)
	const n = 10000
	var flood []byte
	flood = append(flood, p.frame(false, 0, wsframe.OpBinary, []byte{'x'})...)
	for i := 1; i < n-1; i++ {
		flood = append(flood, p.frame(false, 0, wsframe.OpContinuation, []byte{'x'})...)
	}
	flood = append(flood, p.frame(true, 0, wsframe.OpContinuation, []byte{'x'})...)
	go p.send(flood)
	buf := make([]byte, 0, n)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, msg, err := c.ReadInto(context.Background(), buf)
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	require.Len(t, msg, n)
	require.Less(t, after.Mallocs-before.Mallocs, uint64(50), "allocations grow with the fragment count")
}
