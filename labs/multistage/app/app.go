// Command app fetches the page named by $url and prints how many of its <a href>
// links stay on the same site and how many leave it, as one line of JSON.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"golang.org/x/net/html"
)

const defaultPage = "https://www.alexellis.io/"

// linkCount is the program's whole output.
type linkCount struct {
	Internal int `json:"internal"`
	External int `json:"external"`
}

// isInternal reports whether href points into the page's own site: a fragment,
// a link with no host (relative), or a link to the page's host.
func isInternal(href string, page *url.URL) bool {
	if strings.HasPrefix(href, "#") {
		return true
	}
	target, err := url.Parse(href)
	if err != nil {
		return false
	}
	return target.Host == "" || target.Host == page.Host
}

// countLinks walks the document's tokens and classifies the href of every <a>
// start tag. A self-closing <a href="..."/> is another kind of token and is not
// counted, as in href-counter itself.
func countLinks(body io.Reader, page *url.URL) linkCount {
	var count linkCount
	tokens := html.NewTokenizer(body)
	for {
		switch tokens.Next() {
		case html.ErrorToken:
			return count
		case html.StartTagToken:
			token := tokens.Token()
			if token.Data != "a" {
				continue
			}
			for _, attr := range token.Attr {
				if attr.Key != "href" {
					continue
				}
				if isInternal(attr.Val, page) {
					count.Internal++
				} else {
					count.External++
				}
			}
		}
	}
}

func main() {
	address := os.Getenv("url")
	if address == "" {
		address = defaultPage
	}
	page, err := url.Parse(address)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bad url %q: %v\n", address, err)
		os.Exit(2)
	}
	client := http.Client{Timeout: 30 * time.Second}
	response, err := client.Get(page.String())
	if err != nil {
		fmt.Fprintf(os.Stderr, "cannot fetch %s: %v\n", address, err)
		os.Exit(1)
	}
	defer response.Body.Close()
	out, _ := json.Marshal(countLinks(response.Body, page))
	fmt.Println(string(out))
}
