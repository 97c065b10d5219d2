// Example parameters: az deployment group create -g <resource-group> -f infra/azure/main.bicep -p infra/azure/main.bicepparam
using './main.bicep'

param baseName = 'envoyreaper'

// Keep the dry run until the WouldTearDown Events look right.
param reaperDryRun = true

param reaperSchedule = '0 */1 * * * *'

param kubernetesMode = 'AksEntra'

// az aks show -g <cluster-resource-group> -n <cluster> --query fqdn -o tsv
param kubernetesServer = 'https://my-cluster-dns-00000000.hcp.westeurope.azmk8s.io:443'

param maximumInstanceCount = 40

param instanceMemoryMB = 2048

// true: a second app with its own identity runs inject, restore, Park and Wake (bind envoy-reaper-injector to it per namespace).
param deployInjector = false
