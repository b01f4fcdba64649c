package main

import (
	"context"
	"fmt"
	"io"
)

func runProbe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "kafkadial probe: not built yet")
	return 2
}
