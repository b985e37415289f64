package flagvalue

import (
	"net/netip"
	"testing"
)

func TestValues(t *testing.T) {
	var p netip.Prefix
	var ps []netip.Prefix
	var as []netip.Addr
	tests := []struct {
		name    string
		set     func(string) error
		in      string
		wantErr bool
		show    func() string
		want    string
	}{
		{"prefix", Prefix{&p}.Set, "10.99.0.0/24", false, Prefix{&p}.String, "10.99.0.0/24"},
		{"prefix unset", Prefix{&p}.Set, "", false, Prefix{&p}.String, ""},
		{"prefix bad", Prefix{&p}.Set, "10.99.0.0", true, nil, ""},
		{"prefixes", Prefixes{&ps}.Set, "0.0.0.0/0, 192.0.2.0/24", false, Prefixes{&ps}.String, "0.0.0.0/0,192.0.2.0/24"},
		{"prefixes empty", Prefixes{&ps}.Set, "", false, Prefixes{&ps}.String, ""},
		{"prefixes bad", Prefixes{&ps}.Set, "0.0.0.0/0,nope", true, nil, ""},
		{"addrs", Addrs{&as}.Set, "2001:db8::53,192.0.2.53", false, Addrs{&as}.String, "2001:db8::53,192.0.2.53"},
		{"addrs bad", Addrs{&as}.Set, "192.0.2.0/24", true, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.set(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Set(%q) err = %v", tt.in, err)
			}
			if tt.show != nil && tt.show() != tt.want {
				t.Fatalf("String = %q, want %q", tt.show(), tt.want)
			}
		})
	}
}
