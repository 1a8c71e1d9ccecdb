// Command chat is the chat example, able to run as many processes that
// serve one room through Redis:
//
//	go run ./cmd/chat -addr 127.0.0.1:8091 -token secret -redis 127.0.0.1:6379
//	go run ./cmd/chat -addr 127.0.0.1:8092 -token secret -redis 127.0.0.1:6379
//	go run ./cmd/chat -addr 127.0.0.1:8093 -token secret -redis 127.0.0.1:6379
//
// Put any load balancer in front (no sticky sessions needed: see the
// README). Without -redis it is the single-process chat of examples/chat.
//
// SIGINT or SIGTERM drains the process: every client is told to reconnect
// (it resumes on another process, missing nothing) and is closed with 1001.
package main

import (
	"crypto/rand"
	"flag"
	"log"
	"net"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ws6455/ws6455/examples/chat/chatserver"
	chatredis "github.com/ws6455/ws6455/examples/chat/redis"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8082", "address to listen on")
	token := flag.String("token", "", "token clients must present (default: a random one, printed at start)")
	redisAddr := flag.String("redis", "", "Redis address (host:port) shared by the processes of the room; empty: this process alone")
	room := flag.String("room", "main", "room name (Redis keys ws6455:chat:ROOM:*)")
	retain := flag.Int64("retain", chatredis.DefaultRetain, "events kept in Redis for clients that resume")
	ttl := flag.Duration("presence-ttl", chatredis.DefaultTTL, "how long a crashed process's members stay listed")
	pool := flag.Int("redis-pool", 64, "Redis connections per process")
	history := flag.Int("history", chatserver.DefaultHistorySize, "how many past events newcomers receive")
	queue := flag.Int("queue", chatserver.DefaultQueueSize, "events that may wait for a slow client before it is dropped")
	shutdownTimeout := flag.Duration("shutdown-timeout", 5*time.Second, "how long to wait for close handshakes on shutdown")
	flag.Parse()

	if *token == "" {
		*token = rand.Text()
	}
	cfg := chatserver.Config{Token: *token, HistorySize: *history, QueueSize: *queue, Logf: log.Printf}
	if *redisAddr != "" {
		// Each process holds one connection blocked in XREAD; the
		// others serve joins, messages and presence, which come in
		// bursts when a process's clients all move here.
		rdb := redis.NewClient(&redis.Options{Addr: *redisAddr, PoolSize: *pool})
		defer rdb.Close()
		bp := chatredis.New(rdb, chatredis.Options{Room: *room, Retain: *retain, TTL: *ttl, Logf: log.Printf})
		defer bp.Close()
		cfg.Backplane = bp
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	if err := chatserver.ServeUntilSignal(ln, *token, chatserver.New(cfg), *shutdownTimeout); err != nil {
		log.Fatal(err)
	}
}
