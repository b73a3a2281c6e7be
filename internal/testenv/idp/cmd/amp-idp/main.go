// Command amp-idp runs AMP's example identity provider on this machine: a
// slapd directory with the users olivia (AetherROCAdmin), alice (acme-admin)
// and mallory (starbucks), fronted by the OIDC provider of
// internal/testenv/idp. See docs/identity.md.
//
//	go run ./internal/testenv/idp/cmd/amp-idp                 # start; Ctrl-C stops
//	go run ./internal/testenv/idp/cmd/amp-idp token alice alice-pw
//
// `token` logs a user in (authorization-code flow with PKCE, the login form
// posted for them) and prints the ID token.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/amp-edge/amp/internal/testenv/idp"
)

func main() {
	ldapPort := flag.Int("ldap-port", 3389, "slapd port (loopback)")
	port := flag.Int("port", 5556, "OIDC provider port (loopback)")
	issuer := flag.String("issuer", "", "for token: the issuer URL (default http://127.0.0.1:<port>)")
	clientID := flag.String("client-id", "amp", "OIDC client id (the audience AMP checks)")
	dir := flag.String("dir", "", "directory for slapd's configuration and data (default: a temporary one)")
	verbose := flag.Bool("v", false, "print slapd's and the provider's output")
	flag.Parse()

	if flag.Arg(0) == "token" {
		if flag.NArg() != 3 {
			fmt.Fprintln(os.Stderr, "usage: amp-idp [-issuer URL] [-client-id ID] token USER PASSWORD")
			os.Exit(2)
		}
		if *issuer == "" {
			*issuer = fmt.Sprintf("http://127.0.0.1:%d", *port)
		}
		p := &idp.IdP{Issuer: *issuer, ClientID: *clientID, RedirectURI: "http://127.0.0.1/callback"}
		tok, err := p.Login(context.Background(), flag.Arg(1), flag.Arg(2))
		if err != nil {
			fmt.Fprintln(os.Stderr, "amp-idp:", err)
			os.Exit(1)
		}
		fmt.Println(tok)
		return
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o := idp.Options{Dir: *dir, LDAPPort: *ldapPort, IssuerPort: *port, ClientID: *clientID}
	if *verbose {
		o.Log = os.Stderr
	}
	p, err := idp.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "amp-idp:", err)
		os.Exit(1)
	}
	defer p.Close()
	fmt.Printf("OIDC issuer:  %s   (client id %q, public, PKCE; redirect %s)\n", p.Issuer, p.ClientID, p.RedirectURI)
	fmt.Printf("LDAP:         %s   base %s\n", p.LDAPURL, p.BaseDN)
	fmt.Printf("LDAP admin:   %s   password %s\n", p.AdminDN, p.AdminPassword)
	fmt.Println("users:")
	for _, u := range idp.DefaultUsers {
		fmt.Printf("  %-8s password %-11s groups %s\n", u.UID, u.Password, strings.Join(u.Groups, ","))
	}
	fmt.Printf("point AMP at: issuer %s, client id (audience) %s, groups claim \"groups\"\n", p.Issuer, p.ClientID)
	fmt.Println("Ctrl-C stops.")
	<-ctx.Done()
}
