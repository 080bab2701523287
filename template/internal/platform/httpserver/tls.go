package httpserver

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
)

// CertificateFiles serves a certificate and key from two PEM files and picks up new
// contents as soon as either file changes, without a restart: cert-manager renews a
// certificate by rewriting the Secret that Kubernetes mounts as these files.
//
// Each TLS handshake compares the files with those last loaded: the same file (inode),
// size and modification time, or changed (two stat calls, cheap next to the handshake
// itself). Kubernetes updates a Secret volume by swapping in new files, so every rotation
// shows as new files. A changed pair that does
// not load, e.g. the certificate rewritten but not yet the key, is logged and the previous
// certificate kept until the next handshake finds a pair that does.
type CertificateFiles struct {
	certFile, keyFile string
	logger            *slog.Logger

	mu       sync.Mutex
	current  *tls.Certificate
	loaded   [2]os.FileInfo // of certFile and keyFile when current was loaded
	rejected [2]os.FileInfo // the last pair that failed to load, not to be logged again
}

// LoadCertificateFiles loads the pair once; a pair that does not load fails start-up.
func LoadCertificateFiles(certFile, keyFile string, logger *slog.Logger) (*CertificateFiles, error) {
	c := &CertificateFiles{certFile: certFile, keyFile: keyFile, logger: logger}
	stamps, err := c.stat()
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	c.current, c.loaded = &cert, stamps
	return c, nil
}

// GetCertificate is the tls.Config hook: the current certificate, reloaded first if the
// files changed.
func (c *CertificateFiles) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	stamps, err := c.stat()
	if err != nil || samePair(stamps, c.loaded) || samePair(stamps, c.rejected) {
		return c.current, nil // a file briefly missing mid-rotation keeps the old pair
	}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		c.rejected = stamps
		c.logger.Warn("TLS certificate not reloaded; serving the previous one",
			"cert_file", c.certFile, "key_file", c.keyFile, "error", err.Error())
		return c.current, nil
	}
	c.current, c.loaded = &cert, stamps
	c.logger.Info("TLS certificate reloaded", "cert_file", c.certFile)
	return c.current, nil
}

func (c *CertificateFiles) stat() ([2]os.FileInfo, error) {
	var stamps [2]os.FileInfo
	var errs []error
	for i, name := range []string{c.certFile, c.keyFile} {
		fi, err := os.Stat(name)
		if err != nil {
			errs = append(errs, err)
		}
		stamps[i] = fi
	}
	return stamps, errors.Join(errs...)
}

// samePair reports whether both files are unchanged since a and b were taken.
func samePair(a, b [2]os.FileInfo) bool {
	for i := range a {
		if a[i] == nil || b[i] == nil || !os.SameFile(a[i], b[i]) ||
			a[i].Size() != b[i].Size() || !a[i].ModTime().Equal(b[i].ModTime()) {
			return false
		}
	}
	return true
}

// TLSConfig is the public listener's TLS configuration: TLS 1.2 or later, HTTP/2 offered
// through ALPN, certificates from certs. Session tickets stay on (Go's default), so
// returning clients resume without a full handshake. Serve with http.Server.ServeTLS(ln,
// "", "").
func TLSConfig(certs *CertificateFiles) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: certs.GetCertificate,
	}
}
