package main

import (
	"context"
	"fmt"
	"io"
)

func runRules(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "kafkadial rules: not built yet")
	return 2
}
