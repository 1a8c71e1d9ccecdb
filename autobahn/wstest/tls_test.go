package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/autobahn/report"
	"github.com/ws6455/ws6455/autobahn/testee"
	"github.com/ws6455/ws6455/conn"
)

// writeCert writes a self-signed certificate for 127.0.0.1 and its key as
// PEM files into dir and returns their paths and a pool that trusts it.
func writeCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "wstest"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestSpecServerTLS runs a wss:// fuzzing server from a spec with "cert"
// and "key", as the real suite's fuzzingserver mode does, and a client
// through it over TLS.
func TestSpecServerTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := writeCert(t, dir)
	addr := freeAddr(t)
	out := filepath.Join(dir, "clients")
	path := writeSpec(t, `{
   "url": "wss://`+addr+`",
   "cert": "`+certFile+`",
   "key": "`+keyFile+`",
   "outdir": "`+out+`",
   "cases": ["1.1.1", "2.1"]
}`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	var stderr syncBuffer
	go func() { done <- run(ctx, []string{"-m", "fuzzingserver", "-s", path}, &stderr) }()
	waitListen(t, addr)

	// A plain ws:// client does not get through the TLS listener.
	plain, _, err := conn.Dial(ctx, "ws://"+addr+"/getCaseCount", nil)
	if err == nil {
		plain.CloseNow()
		t.Fatal("the wss:// fuzzing server accepted a plain connection")
	}

	opts := &conn.DialOptions{TLSConfig: &tls.Config{RootCAs: pool}}
	base := "wss://" + addr
	for i := 1; i <= 2; i++ {
		c, _, err := conn.Dial(ctx, fmt.Sprintf("%s/runCase?case=%d&agent=secure", base, i), opts)
		require.NoError(t, err)
		testee.Echo(ctx, c)
		c.CloseNow()
	}
	c, _, err := conn.Dial(ctx, base+"/updateReports?agent=secure", opts)
	require.NoError(t, err)
	_, _, err = c.Read(ctx)
	require.Error(t, err)
	c.CloseNow()

	idx, err := report.ReadIndex(filepath.Join(out, "index.json"))
	require.NoError(t, err)
	require.Equal(t, []string{"1.1.1", "2.1"}, report.SortedCaseIDs(idx["secure"]))
	for id, cr := range idx["secure"] {
		require.Equal(t, "OK", cr.Behavior, id)
		require.Equal(t, "OK", cr.BehaviorClose, id)
	}
	require.Contains(t, stderr.String(), "fuzzing server on wss://")
	cancel()
	require.NoError(t, <-done)
}

// TestServerFlagsTLS checks -cert and -key: both or neither, and readable.
func TestServerFlagsTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, _, _ := writeCert(t, dir)
	ctx := context.Background()
	var stderr syncBuffer
	err := run(ctx, []string{"-m", "fuzzingserver", "-addr", freeAddr(t), "-cert", certFile}, &stderr)
	require.ErrorContains(t, err, "-cert and -key go together")
	err = run(ctx, []string{"-m", "fuzzingserver", "-addr", freeAddr(t), "-cert", certFile, "-key", filepath.Join(dir, "missing.pem")}, &stderr)
	require.ErrorContains(t, err, "missing.pem")
}
