package main

import "context"

func (c *cli) rules(ctx context.Context, args []string) int { return 2 }
