package relay

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
)

// CheckGossipKey is the one rule for a gossip key: memberlist encrypts with
// AES, so a key is 16, 24 or 32 bytes (AES-128, -192, -256).
func CheckGossipKey(k []byte) error {
	if n := len(k); n != 16 && n != 24 && n != 32 {
		return fmt.Errorf("key is %d bytes, want 16, 24 or 32", n)
	}
	return nil
}

// ParseGossipKey decodes one base64 gossip key (a line of a key file, or a
// flag's value) and checks it.
func ParseGossipKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("key is not base64: %w", err)
	}
	if err := CheckGossipKey(k); err != nil {
		return nil, err
	}
	return k, nil
}

// LoadGossipKeys reads a gossip key file: base64 keys, one per line (blank
// lines and lines starting with # are skipped). The first key encrypts; all
// decrypt, so keys rotate by adding the new one second, then first.
func LoadGossipKeys(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gossip key file: %w", err)
	}
	defer f.Close()
	var keys [][]byte
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		k, err := ParseGossipKey(s)
		if err != nil {
			return nil, fmt.Errorf("gossip key file %s line %d: %w", path, line, err)
		}
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("gossip key file %s: %w", path, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("gossip key file %s holds no key", path)
	}
	return keys, nil
}
