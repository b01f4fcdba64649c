package main

import (
	"context"
	"fmt"
	"io"
)

func runDNS(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "kafkadial dns: not built yet")
	return 2
}
