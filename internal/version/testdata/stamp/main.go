package main

import (
	"fmt"

	"github.com/cobatch/cobatch/internal/version"
)

func main() { fmt.Print(version.String()) }
