package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/amp-edge/amp/internal/seal"
)

// newSealCmd is "amp seal": a Kubernetes Secret in, a SealedSecret out
// (docs/lifecycle.md, "Sealed secrets").
func newSealCmd(g *globalOpts) *cobra.Command {
	var cluster, certFile, scopeName, namespace, name, fromFile string
	var raw, fetchCert, renewKey bool
	cmd := &cobra.Command{
		Use:   "seal [FILE] (--cluster NAME | --cert FILE) [--scope strict|namespace-wide|cluster-wide]",
		Short: "Seal a Kubernetes Secret for a cluster: a SealedSecret safe to commit to a config repo",
		Long: `Seal a Kubernetes Secret (YAML or JSON, from FILE or stdin) into a
SealedSecret (bitnami.com/v1alpha1) that only the cluster can open: each
value is encrypted with a fresh AES-256-GCM key wrapped with RSA-OAEP-SHA256
for the cluster's public key, exactly as kubeseal does, so the output can be
committed to a config repo and is unsealed at the site either by the
sealed-secrets controller or by AMP's agent (declare it under
fleet/sealing/NAME/sealed-secret).

The key is the cluster's sealing certificate from AMP (--cluster NAME:
GET /clusters/NAME/seal-key; the first request makes the cluster's first
key) or a certificate file (--cert FILE: e.g. the sealed-secrets
controller's, from kubeseal --fetch-cert). The scope says where the values
may be unsealed: strict (this namespace and name; the default),
namespace-wide (any name in the namespace) or cluster-wide (anywhere);
without --scope, the Secret's sealedsecrets.bitnami.com annotations decide,
as with kubeseal. The SealedSecret is written to stdout (-o yaml, the
default, or -o json); the clear values never leave this process.

--raw seals one value (stdin or --from-file) for --namespace and --name
and prints its sealed form, for a SealedSecret's encryptedData or a
template. --fetch-cert prints the cluster's certificate; --renew-key gives
the cluster a new active key (operators; the older keys keep unsealing).

Examples:
  kubectl create secret generic db --namespace apps --from-literal=password=s3cret \
    --dry-run=client -o yaml | amp seal --cluster ace-x > db.sealed.yaml
  amp seal secret.yaml --cert controller.pem --scope namespace-wide -o json
  amp seal --fetch-cert --cluster ace-x > ace-x.pem     # then: kubeseal --cert ace-x.pem
  printf s3cret | amp seal --raw --cluster ace-x --namespace apps --name db
  amp seal --renew-key --cluster ace-x`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			switch {
			case cluster == "" && certFile == "":
				return usagef("give --cluster NAME (its key from AMP) or --cert FILE")
			case cluster != "" && certFile != "":
				return usagef("--cluster and --cert are exclusive: the key comes from one of them")
			}
			if (fetchCert || renewKey) && cluster == "" {
				return usagef("--fetch-cert and --renew-key need --cluster")
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			out := cmd.OutOrStdout()
			if renewKey {
				r, err := g.client().RenewSealKey(ctx, cluster)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "cluster %s: new active sealing key %s (%d keys; the older ones keep unsealing)\n", r.Cluster, r.Fingerprint, r.Keys)
				return nil
			}
			var certPEM []byte
			var err error
			if cluster != "" {
				certPEM, err = g.client().SealKey(ctx, cluster)
			} else {
				certPEM, err = os.ReadFile(certFile)
			}
			if err != nil {
				return err
			}
			if fetchCert {
				_, err := out.Write(certPEM)
				return err
			}
			pub, err := seal.PublicKeyFromPEM(certPEM)
			if err != nil {
				return fmt.Errorf("the sealing certificate: %w", err)
			}
			var scope *seal.Scope
			if cmd.Flags().Changed("scope") {
				s, err := seal.ParseScope(scopeName)
				if err != nil {
					return usagef("--scope: %v", err)
				}
				scope = &s
			}
			if raw {
				if len(a) > 0 {
					return usagef("--raw reads the value from stdin or --from-file, not FILE")
				}
				value, err := readInput(cmd, fromFile)
				if err != nil {
					return err
				}
				sc := seal.Strict
				if scope != nil {
					sc = *scope
				}
				s, err := seal.SealRaw(rand.Reader, pub, namespace, name, sc, value)
				if err != nil {
					return usagef("--%v", err)
				}
				_, err = fmt.Fprintln(out, s)
				return err
			}
			src, file := "stdin", ""
			if len(a) == 1 {
				src, file = a[0], a[0]
			}
			in, err := readInput(cmd, file)
			if err != nil {
				return err
			}
			secret, err := parseSecret(in)
			if err != nil {
				return fmt.Errorf("%s: %w", src, err)
			}
			ss, err := seal.Seal(rand.Reader, pub, secret, scope)
			if err != nil {
				return fmt.Errorf("%s: %w", src, err)
			}
			b, err := json.MarshalIndent(ss, "", "  ")
			if err != nil {
				return err
			}
			switch g.output {
			case "json":
				_, err = fmt.Fprintf(out, "%s\n", b)
			case "", "yaml":
				var y []byte
				if y, err = yaml.JSONToYAML(b); err == nil {
					_, err = out.Write(y)
				}
			default:
				return usagef("-o %s: amp seal writes json or yaml", g.output)
			}
			return err
		}),
	}
	f := cmd.Flags()
	f.StringVar(&cluster, "cluster", "", "seal for this cluster's key, fetched from AMP")
	f.StringVar(&certFile, "cert", "", "seal for the key of this PEM certificate (or public key) instead, e.g. the sealed-secrets controller's")
	f.StringVar(&scopeName, "scope", "strict", "where the values may be unsealed: strict, namespace-wide or cluster-wide (unset: the Secret's annotations decide)")
	f.BoolVar(&raw, "raw", false, "seal one value (stdin or --from-file) and print it, like kubeseal --raw")
	f.StringVar(&namespace, "namespace", "", "with --raw: the Secret's namespace (strict and namespace-wide scopes)")
	f.StringVar(&name, "name", "", "with --raw: the Secret's name (strict scope)")
	f.StringVar(&fromFile, "from-file", "", "with --raw: read the value from this file rather than stdin")
	f.BoolVar(&fetchCert, "fetch-cert", false, "print the cluster's sealing certificate (PEM) and exit")
	f.BoolVar(&renewKey, "renew-key", false, "give the cluster a new active sealing key (operators); sealed values keep unsealing")
	return cmd
}

// readInput reads file, or stdin when file is "" or "-".
func readInput(cmd *cobra.Command, file string) ([]byte, error) {
	if file == "" || file == "-" {
		return io.ReadAll(io.LimitReader(cmd.InOrStdin(), 16<<20))
	}
	return os.ReadFile(file)
}

// parseSecret reads a Secret written as YAML or JSON; a value of data
// that is not base64 is named.
func parseSecret(b []byte) (*seal.Secret, error) {
	var in struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Metadata   seal.ObjectMeta   `json:"metadata"`
		Type       string            `json:"type"`
		Immutable  *bool             `json:"immutable"`
		Data       map[string]string `json:"data"`
		StringData map[string]string `json:"stringData"`
	}
	if err := yaml.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("not a Kubernetes Secret in YAML or JSON: %v", err)
	}
	s := &seal.Secret{APIVersion: in.APIVersion, Kind: in.Kind, Metadata: in.Metadata, Type: in.Type, Immutable: in.Immutable, StringData: in.StringData}
	keys := make([]string, 0, len(in.Data))
	for k := range in.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, err := base64.StdEncoding.DecodeString(in.Data[k])
		if err != nil {
			return nil, fmt.Errorf("data.%s: not base64 (use stringData for clear text): %v", k, err)
		}
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		s.Data[k] = v
	}
	return s, nil
}
