//go:build tools

// Package tools pins the GoBGP commands the BGP component tests run (built by gobgp.mk).
package tools

import (
	_ "github.com/osrg/gobgp/v3/cmd/gobgp"
	_ "github.com/osrg/gobgp/v3/cmd/gobgpd"
)
