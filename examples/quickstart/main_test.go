package main

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"testing"
)

// freeBase finds a base port whose next three ports are free, so the test
// can run the quickstart as a user would, with its rule arithmetic.
func freeBase(t *testing.T) int {
	for try := 0; try < 20; try++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if base+3 > 65535 {
			continue
		}
		ok := true
		for i := 1; i <= 3 && ok; i++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+i))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no three consecutive free ports")
	return 0
}

func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	base := freeBase(t)
	if err := run(&out, base, 500); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	s := out.String()
	t.Log(s)
	for _, want := range []string{
		"FAILED: broker",
		fmt.Sprintf("kafka-{id}:29092 => 127.0.0.1:{id+%d}", base),
		fmt.Sprintf("kafka-3:29092  127.0.0.1:%d  quickstart:1", base+3),
		"sarama    produced 500, consumed 500",
		"franz-go  produced 500, consumed 500",
		"kafka-go  produced 500, consumed 500",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
