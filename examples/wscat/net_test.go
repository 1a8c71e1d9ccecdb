package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/wsframe"
)

// connectProxy is an HTTP CONNECT proxy on 127.0.0.1 that records each
// CONNECT request; it wants the credentials user:pw when auth is set.
type connectProxy struct {
	addr string
	reqs chan *http.Request
}

func newConnectProxy(t *testing.T, auth bool) *connectProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &connectProxy{addr: ln.Addr().String(), reqs: make(chan *http.Request, 10)}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.serve(c, auth)
			}()
		}
	}()
	return p
}

func (p *connectProxy) serve(c net.Conn, auth bool) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(testTimeout))
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	p.reqs <- req
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("user:pw"))
	if req.Method != http.MethodConnect || auth && req.Header.Get("Proxy-Authorization") != want {
		io.WriteString(c, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
		return
	}
	up, err := net.Dial("tcp", req.Host)
	if err != nil {
		io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		return
	}
	defer up.Close()
	io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	done := make(chan struct{})
	go func() {
		io.Copy(up, br)
		up.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	io.Copy(c, up)
	c.(*net.TCPConn).CloseWrite() // the server closed: so does the tunnel
	<-done
}

// TestProxy: -proxy tunnels through CONNECT to the server's address, with
// the credentials of the proxy URL; the frames arrive unchanged; a proxy
// refusal is a connect failure.
func TestProxy(t *testing.T) {
	s := newRawServer(t, rawOptions{echo: true})
	host := strings.TrimSuffix(strings.TrimPrefix(s.url, "ws://"), "/raw")

	p := newConnectProxy(t, true)
	code, stdout, stderr := runOnce(t, "", "-proxy", "http://user:pw@"+p.addr, "-x", "via proxy", s.url)
	assert.Equal(t, exitOK, code, stderr)
	assert.Equal(t, "via proxy\n", stdout)
	req := <-p.reqs
	assert.Equal(t, http.MethodConnect, req.Method)
	assert.Equal(t, host, req.Host)
	s.expect(t, wsframe.OpText, []byte("via proxy"))
	s.expect(t, wsframe.OpClose, []byte{0x03, 0xe8})

	// A bare host:port is an http proxy; without credentials, 407.
	code, _, stderr = runOnce(t, "", "-proxy", p.addr, "-x", "x", s.url)
	assert.Equal(t, exitConnect, code)
	assert.Contains(t, stderr, "407 Proxy Authentication Required")
}

// testPKI is a CA, a server certificate for 127.0.0.1 and a client
// certificate, all written as PEM files.
type testPKI struct {
	caFile, serverCert, serverKey, clientCert, clientKey string
	otherCA                                              string // a CA that signed nothing here
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		return path
	}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		return k
	}
	serial := int64(0)
	template := func(cn string) *x509.Certificate {
		serial++
		return &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
		}
	}
	newCA := func(cn string) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
		key := newKey()
		tmpl := template(cn)
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		require.NoError(t, err)
		cert, err := x509.ParseCertificate(der)
		require.NoError(t, err)
		return cert, key, der
	}
	ca, caKey, caDER := newCA("wscat test CA")
	_, _, otherDER := newCA("another CA")
	leaf := func(name string, usage x509.ExtKeyUsage) (string, string) {
		key := newKey()
		tmpl := template(name)
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		if usage == x509.ExtKeyUsageServerAuth {
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		require.NoError(t, err)
		kder, err := x509.MarshalPKCS8PrivateKey(key)
		require.NoError(t, err)
		return write(name+".pem", "CERTIFICATE", der), write(name+".key", "PRIVATE KEY", kder)
	}
	p := &testPKI{caFile: write("ca.pem", "CERTIFICATE", caDER), otherCA: write("other.pem", "CERTIFICATE", otherDER)}
	p.serverCert, p.serverKey = leaf("server", x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = leaf("client", x509.ExtKeyUsageClientAuth)
	return p
}

// TestTLS: wscat -listen serves wss with -cert/-key and requires a client
// certificate from -cacert's CA; wscat as a client trusts -cacert and
// presents -cert/-key. Both sides are wscat; each prints what the other
// sent.
func TestTLS(t *testing.T) {
	pki := newTestPKI(t)
	srv := startTTY(t, context.Background(), false, "-listen", "127.0.0.1:0",
		"-cert", pki.serverCert, "-key", pki.serverKey, "-cacert", pki.caFile, "-x", "welcome", "-count", "1")
	line := srv.stderr.next(t)
	require.True(t, strings.HasPrefix(line, "listening on wss://127.0.0.1:"), line)
	u := strings.TrimPrefix(line, "listening on ")

	t.Run("no client certificate", func(t *testing.T) {
		code, _, stderr := runOnce(t, "", "-cacert", pki.caFile, "-x", "hi", u)
		assert.Equal(t, exitConnect, code)
		assert.Contains(t, stderr, "wscat: ")
	})
	t.Run("server not trusted", func(t *testing.T) {
		code, _, stderr := runOnce(t, "", "-cacert", pki.otherCA, "-cert", pki.clientCert, "-key", pki.clientKey, "-x", "hi", u)
		assert.Equal(t, exitConnect, code)
		assert.Contains(t, stderr, "certificate signed by unknown authority")
	})
	t.Run("mutual TLS", func(t *testing.T) {
		code, stdout, stderr := runOnce(t, "", "-cacert", pki.caFile, "-cert", pki.clientCert, "-key", pki.clientKey, "-x", "hi", u)
		assert.Equal(t, exitOK, code, stderr)
		assert.Equal(t, "welcome\n", stdout)
		assert.Equal(t, exitOK, srv.wait(t), srv.stderr.String())
		assert.Equal(t, "hi\n", srv.stdout.String())
	})
}

// TestInsecure: -insecure connects to a server whose certificate is not
// trusted; without it the handshake fails.
func TestInsecure(t *testing.T) {
	pki := newTestPKI(t)
	srv := startTTY(t, context.Background(), false, "-listen", "127.0.0.1:0", "-cert", pki.serverCert, "-key", pki.serverKey)
	u := strings.TrimPrefix(srv.stderr.next(t), "listening on ")
	code, _, stderr := runOnce(t, "", "-x", "a", "-count", "0", u)
	assert.Equal(t, exitConnect, code)
	assert.Contains(t, stderr, "certificate signed by unknown authority")

	code, _, stderr = runOnce(t, "", "-insecure", "-x", "a", "-count", "0", u)
	assert.Equal(t, exitOK, code, stderr)
	srv.stdin.Close()
	assert.Equal(t, exitOK, srv.wait(t))
	assert.Equal(t, "a\n", srv.stdout.String())
}
