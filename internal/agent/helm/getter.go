package helm

import (
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// discoveryCache is the site's API discovery, read once and shared by the
// action configurations of every namespace (Helm would otherwise read
// it per release, or cache it under $HOME).
type discoveryCache struct {
	cfg    *rest.Config
	once   sync.Once
	disc   discovery.CachedDiscoveryInterface
	mapper meta.RESTMapper
	err    error
}

func (d *discoveryCache) get() (discovery.CachedDiscoveryInterface, meta.RESTMapper, error) {
	d.once.Do(func() {
		dc, err := discovery.NewDiscoveryClientForConfig(d.cfg)
		if err != nil {
			d.err = err
			return
		}
		d.disc = memory.NewMemCacheClient(dc)
		d.mapper = restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(d.disc), d.disc, nil)
	})
	return d.disc, d.mapper, d.err
}

// getter is Helm's view of the site's API for one namespace (Helm's
// genericclioptions.RESTClientGetter): the agent's client configuration,
// not a kubeconfig on disk.
type getter struct {
	namespace string
	d         *discoveryCache
}

func (g *getter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.d.cfg), nil }

func (g *getter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	disc, _, err := g.d.get()
	return disc, err
}

func (g *getter) ToRESTMapper() (meta.RESTMapper, error) {
	_, m, err := g.d.get()
	return m, err
}

func (g *getter) ToRawKubeConfigLoader() clientcmd.ClientConfig { return namespaced(*g) }

// namespaced is the client configuration Helm asks for its namespace.
type namespaced getter

func (n namespaced) RawConfig() (clientcmdapi.Config, error) { return *clientcmdapi.NewConfig(), nil }
func (n namespaced) ClientConfig() (*rest.Config, error)     { return rest.CopyConfig(n.d.cfg), nil }
func (n namespaced) Namespace() (string, bool, error)        { return n.namespace, true, nil }
func (n namespaced) ConfigAccess() clientcmd.ConfigAccess {
	return clientcmd.NewDefaultClientConfigLoadingRules()
}
