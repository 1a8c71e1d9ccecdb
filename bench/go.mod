module github.com/ws6455/ws6455/bench

go 1.26

replace github.com/ws6455/ws6455 => ../

require (
	github.com/coder/websocket v1.8.15
	github.com/gobwas/ws v1.5.0
	github.com/gorilla/websocket v1.5.3
	github.com/lxzan/gws v1.8.9
	github.com/ws6455/ws6455 v0.0.0
	golang.org/x/net v0.58.0
)

require (
	github.com/dolthub/maphash v0.1.0 // indirect
	github.com/gobwas/httphead v0.1.0 // indirect
	github.com/klauspost/compress v1.17.9 // indirect
	golang.org/x/text v0.41.0 // indirect
)
