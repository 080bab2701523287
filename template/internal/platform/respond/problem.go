package respond

import "net/http"

// Problem is an RFC 9457 problem details object. Code is an extension member: a stable,
// machine-readable reason (e.g. "not_found", "insufficient_quantity") that clients can switch
// on, where Title and Detail are for people.
type Problem struct {
	// Type is a URI naming the problem type; empty means "about:blank", the type whose
	// meaning is just the HTTP status.
	Type     string `json:"type,omitempty"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	Code     string `json:"code,omitempty"`
}

// WriteProblem writes p as application/problem+json with p.Status as the HTTP status.
// A zero Status is a 500; an empty Title is the status text, as RFC 9457 asks for
// "about:blank" problems.
func WriteProblem(w http.ResponseWriter, p Problem) {
	if p.Status == 0 {
		p.Status = http.StatusInternalServerError
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	write(w, p.Status, problemContentType, p)
}
