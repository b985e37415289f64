// Package auth checks the shared secret clients present with HTTP Basic Auth.
// The secret is read from a file or an environment variable (never a flag, whose
// value shows in ps), compared in constant time, never logged, and sources that
// keep failing are refused for a while before their guesses are even checked.
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"
)

// Result of checking one request.
type Result int

// Possible results. Reasons are kept apart so metrics and logs can tell a
// misconfigured client (missing) from a guesser (wrong).
const (
	OK Result = iota
	Missing
	Wrong
	Limited
)

func (r Result) String() string {
	switch r {
	case OK:
		return "ok"
	case Missing:
		return "missing"
	case Wrong:
		return "wrong"
	case Limited:
		return "rate_limited"
	}
	return "unknown"
}

// Secret is the shared secret. Its String and GoString never reveal it, so it
// cannot leak through a log line or a %v by mistake.
type Secret struct {
	// sum is the SHA-256 of the secret: comparing fixed-size digests keeps
	// the comparison constant-time even in the secret's length.
	sum [sha256.Size]byte
}

func (Secret) String() string   { return "[redacted]" }
func (Secret) GoString() string { return "auth.Secret{[redacted]}" }

// MinSecretLen keeps obviously guessable secrets out; use a random string.
const MinSecretLen = 16

// NewSecret wraps s. Leading and trailing white space is dropped because secret
// files usually end in a newline.
func NewSecret(s string) (Secret, error) {
	s = strings.TrimSpace(s)
	if len(s) < MinSecretLen {
		return Secret{}, fmt.Errorf("shared secret shorter than %d characters", MinSecretLen)
	}
	return Secret{sum: sha256.Sum256([]byte(s))}, nil
}

// LoadSecret reads the secret from file when given, otherwise from the
// environment variable env. Exactly one must be set.
func LoadSecret(file, env string) (Secret, error) {
	raw, err := ReadSecret(file, env)
	if err != nil {
		return Secret{}, err
	}
	return NewSecret(raw)
}

// ReadSecret returns the raw secret the way LoadSecret finds it; the client
// needs the text itself to send it.
func ReadSecret(file, env string) (string, error) {
	fromEnv := os.Getenv(env)
	switch {
	case file != "" && fromEnv != "":
		return "", fmt.Errorf("shared secret given both as a file and in %s: pick one", env)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read secret file: %w", err)
		}
		s := strings.TrimSpace(string(b))
		if len(s) < MinSecretLen {
			return "", fmt.Errorf("secret file %s: shorter than %d characters", file, MinSecretLen)
		}
		return s, nil
	case fromEnv != "":
		s := strings.TrimSpace(fromEnv)
		if len(s) < MinSecretLen {
			return "", fmt.Errorf("env %s: secret shorter than %d characters", env, MinSecretLen)
		}
		return s, nil
	}
	return "", fmt.Errorf("no shared secret: set --secret-file or %s", env)
}

// Matches reports in constant time whether candidate is the secret.
func (s Secret) Matches(candidate string) bool {
	c := sha256.Sum256([]byte(candidate))
	return subtle.ConstantTimeCompare(s.sum[:], c[:]) == 1
}

// Checker authenticates requests. The user name of Basic Auth is not checked:
// the password alone is the shared secret, so nodes may put their own name there
// for the access log.
type Checker struct {
	secret  Secret
	limit   *FailureLimiter
	metrics *Metrics
}

// NewChecker returns a Checker; limit and m may be nil.
func NewChecker(secret Secret, limit *FailureLimiter, m *Metrics) *Checker {
	return &Checker{secret: secret, limit: limit, metrics: m}
}

// Check authenticates r. A source that is over its failure budget gets Limited
// without its credentials being looked at, so it learns nothing from guessing.
// The attempt is charged before the check and refunded on success, so
// concurrent guesses cannot all slip in under one remaining token.
func (c *Checker) Check(r *http.Request) Result {
	src := SourceOf(r)
	if c.limit != nil && !c.limit.Reserve(src) {
		c.metrics.failure(Limited)
		return Limited
	}
	_, pass, ok := r.BasicAuth()
	res := OK
	switch {
	case !ok:
		res = Missing
	case !c.secret.Matches(pass):
		res = Wrong
	}
	switch {
	case res == OK && c.limit != nil:
		c.limit.Refund(src)
	case res != OK:
		c.metrics.failure(res)
	}
	return res
}

// SourceOf is the address a request came from. Forwarding headers are not
// trusted: the gateway is reached directly, and a header would let a guesser
// pick a fresh identity per attempt.
func SourceOf(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// Clock is the time source of a FailureLimiter.
type Clock func() time.Time
