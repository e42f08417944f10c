// Package vmjs serves aleph-vm.js, the browser module that calls programs
// without a gateway (client-side balancing over the compute nodes that
// announce a program), at Path of core nodes and gateways.
package vmjs

import (
	_ "embed"
	"encoding/json"
	"net/http"
	"strings"
)

// Path is where core nodes and gateways serve the module.
const Path = "/aleph-vm.js"

//go:embed aleph-vm.js
var source string

// Source is the module with cores as its default core nodes (none: the
// origin the module is loaded from).
func Source(cores []string) string {
	if cores == nil {
		cores = []string{}
	}
	b, _ := json.Marshal(cores)
	return strings.Replace(source, "/*cores*/[]", string(b), 1)
}

// Handler serves the module (Source(cores)) to any origin.
func Handler(cores []string) http.Handler {
	body := Source(cores)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/javascript; charset=utf-8")
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Cache-Control", "public, max-age=300")
		h.Set("X-Content-Type-Options", "nosniff")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Write([]byte(body))
	})
}
