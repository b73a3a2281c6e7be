package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/spf13/cobra"
	"golang.org/x/oauth2"
)

// loginFile is where `amp login` keeps the ID token: the user's config
// dir, readable by the user only.
func loginFile() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		dir = filepath.Join(os.Getenv("HOME"), ".config")
	}
	return filepath.Join(dir, "amp", "login.json")
}

type storedLogin struct {
	Issuer  string    `json:"issuer"`
	Token   string    `json:"id_token"`
	Expires time.Time `json:"expires"`
	User    string    `json:"user"`
}

// tokenFromLogin returns the token `amp login` stored, if it is still valid.
func tokenFromLogin() string {
	b, err := os.ReadFile(loginFile())
	if err != nil {
		return ""
	}
	var l storedLogin
	if json.Unmarshal(b, &l) != nil || time.Now().After(l.Expires) {
		return ""
	}
	return l.Token
}

func newLoginCmd() *cobra.Command {
	var issuer, clientID, listen string
	var noBrowser bool
	cmd := &cobra.Command{
		Use:   "login --issuer URL",
		Short: "Log in through the OIDC provider (Keycloak, Dex, …) and keep the token for the CLI",
		Long: `Log in through the company's OIDC identity provider with the authorization
code flow and PKCE: amp prints (and opens) the provider's login page, takes
the answer on a loopback address, verifies the ID token and stores it in
` + loginFile() + ` (mode 0600). Later amp commands use it when AMP_TOKEN and
--token are not set, until it expires.

The provider must accept the client id (default "amp") as a public client
with a loopback redirect URI, http://127.0.0.1:<port>/callback (RFC 8252).

Examples:
  amp login --issuer https://keycloak.example.com/realms/edge
  amp login --issuer http://127.0.0.1:5556 --no-browser`,
		Args: args(cobra.NoArgs),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if issuer == "" {
				return usagef("--issuer is required (env AMP_OIDC_ISSUER)")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Minute)
			defer cancel()
			prov, err := oidc.NewProvider(ctx, issuer)
			if err != nil {
				return fmt.Errorf("identity provider %s: %w", issuer, err)
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("listen for the login answer on %s: %w", listen, err)
			}
			defer ln.Close()
			conf := &oauth2.Config{ClientID: clientID, Endpoint: prov.Endpoint(),
				RedirectURL: "http://" + ln.Addr().String() + "/callback", Scopes: []string{oidc.ScopeOpenID, "profile", "email", "groups"}}
			verifier := oauth2.GenerateVerifier()
			state, nonce := randomHex(), randomHex()
			u := conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", nonce))
			fmt.Fprintf(cmd.ErrOrStderr(), "Open this page to log in:\n  %s\n", u)
			if !noBrowser {
				_ = exec.Command("xdg-open", u).Start()
			}
			type answer struct {
				code string
				err  error
			}
			got := make(chan answer, 1)
			srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				q := r.URL.Query()
				switch {
				case r.URL.Path != "/callback":
					http.NotFound(w, r)
					return
				case q.Get("error") != "":
					got <- answer{err: fmt.Errorf("login refused: %s %s", q.Get("error"), q.Get("error_description"))}
				case q.Get("state") != state:
					got <- answer{err: errors.New("login answer with a wrong state: ignored")}
				default:
					got <- answer{code: q.Get("code")}
				}
				fmt.Fprintln(w, "AMP: you can close this page and go back to the terminal.")
			})}
			go srv.Serve(ln)
			defer srv.Close()
			var a answer
			select {
			case a = <-got:
			case <-ctx.Done():
				return errors.New("no login answer within 10 minutes")
			}
			if a.err != nil {
				return a.err
			}
			tok, err := conf.Exchange(ctx, a.code, oauth2.VerifierOption(verifier))
			if err != nil {
				return fmt.Errorf("exchange the login code: %w", err)
			}
			raw, _ := tok.Extra("id_token").(string)
			idt, err := prov.Verifier(&oidc.Config{ClientID: clientID}).Verify(ctx, raw)
			if err != nil {
				return fmt.Errorf("the provider's ID token does not verify: %w", err)
			}
			if idt.Nonce != nonce {
				return errors.New("the provider's ID token has a wrong nonce")
			}
			var claims struct {
				User string `json:"preferred_username"`
			}
			_ = idt.Claims(&claims)
			user := claims.User
			if user == "" {
				user = idt.Subject
			}
			b, _ := json.Marshal(storedLogin{Issuer: issuer, Token: raw, Expires: idt.Expiry, User: user})
			if err := os.MkdirAll(filepath.Dir(loginFile()), 0o700); err != nil {
				return err
			}
			if err := os.WriteFile(loginFile(), b, 0o600); err != nil {
				return fmt.Errorf("store the token: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "logged in as %s until %s (token in %s)\n", user, idt.Expiry.Format(time.RFC3339), loginFile())
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&issuer, "issuer", os.Getenv("AMP_OIDC_ISSUER"), "the OIDC provider's issuer URL (env AMP_OIDC_ISSUER)")
	f.StringVar(&clientID, "client-id", envOr("AMP_OIDC_CLIENT_ID", "amp"), "the client id AMP is registered as at the provider")
	f.StringVar(&listen, "listen", "127.0.0.1:0", "loopback address for the provider's answer")
	f.BoolVar(&noBrowser, "no-browser", false, "only print the login page's address")
	return cmd
}

func randomHex() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
