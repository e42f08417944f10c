//go:build !race

package httplimit

const raceFactor = 1
