package main

import (
	"slices"
	"testing"
)

func TestHostFlag(t *testing.T) {
	_, cfg, err := parseFlags([]string{"-host", "devtools.example", "-host", "other.example:9000"})
	if err != nil || !slices.Equal(cfg.Hosts, []string{"devtools.example", "other.example:9000"}) {
		t.Fatalf("%v %q", err, cfg.Hosts)
	}
	for _, bad := range []string{"", "a/b", "u@evil.example", "a b"} {
		if _, _, err := parseFlags([]string{"-host", bad}); err == nil {
			t.Errorf("-host %q taken", bad)
		}
	}
}
