// EnvoyReaper on Azure: a Flex Consumption function app (.NET 10 isolated) with its storage account, reached only
// through a user-assigned managed identity, Application Insights on a Log Analytics workspace, and the reaper's
// settings. The cluster is reached as Kubernetes__Mode says; AksEntra (the default) gets tokens for the AKS API
// server with the same identity, which needs Kubernetes RBAC on the cluster: bind the ClusterRoles envoy-reaper-discovery
// and envoy-reaper-worker of infra/k8s/rbac.yaml to the output identityPrincipalId (subject kind User, name = that
// object ID) or grant the equivalent Azure RBAC for Kubernetes roles.
//
// With deployInjector=true a second app, with its own identity, runs the functions that write into workloads (inject,
// remove, restore, the rollout finish, Park and Wake) and the first app loads only discovery, checks and teardown. Bind
// envoy-reaper-injector per namespace to injectorIdentityPrincipalId, never to identityPrincipalId: that identity runs
// the queue workers that read untrusted Envoys. Without it the one app loads every function, and inject, restore and
// parking answer 403 unless you bind the injector role to its identity (not recommended).
//
//   az deployment group create -g <resource-group> -f infra/azure/main.bicep -p infra/azure/main.bicepparam
//   func azure functionapp publish <functionAppName>   (from src/EnvoyReaper.Functions; the same for injectorFunctionAppName)

targetScope = 'resourceGroup'

@description('Azure region of every resource (one where Flex Consumption is offered).')
param location string = resourceGroup().location

@description('Short name every resource name is derived from.')
@minLength(2)
@maxLength(12)
param baseName string = 'envoyreaper'

@description('Name of the function app; must be globally unique (it becomes <name>.azurewebsites.net).')
@maxLength(60)
param functionAppName string = '${baseName}-${uniqueString(resourceGroup().id)}'

@description('Deploy a second function app, with its own identity, for the functions that write into workloads (inject, remove, restore, rollout finish, Park, Wake).')
param deployInjector bool = false

@description('Name of the injector function app (used when deployInjector is true); globally unique.')
@maxLength(60)
param injectorFunctionAppName string = '${baseName}-inj-${uniqueString(resourceGroup().id)}'

@description('Name of the storage account; 3-24 lowercase letters and digits, globally unique.')
@minLength(3)
@maxLength(24)
param storageAccountName string = take('st${toLower(replace(baseName, '-', ''))}${uniqueString(resourceGroup().id)}', 24)

@description('Replication of the storage account.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
])
param storageSku string = 'Standard_LRS'

@description('Largest number of instances Flex Consumption may scale to. Each instance reads up to Reaper__MaxConcurrentStatsReads sidecars at once and calls the API server, so keep it modest.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory of each Flex Consumption instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Discovery timer (NCRONTAB with seconds): ReaperSchedule.')
param reaperSchedule string = '0 */1 * * * *'

@description('Reaper__DryRun: true turns every teardown into a WouldTearDown Event. Keep it until the Events look right.')
param reaperDryRun bool = true

@description('Kubernetes__Mode: how the app reaches the cluster. AksEntra gets Entra ID tokens for the AKS API server with the app\'s managed identity.')
@allowed([
  'AksEntra'
  'KubeConfig'
  'InCluster'
])
param kubernetesMode string = 'AksEntra'

@description('Kubernetes__Server: the AKS API server URL (https://<fqdn>:443), e.g. from az aks show --query fqdn.')
param kubernetesServer string = ''

@description('Kubernetes__ClientId: client ID of the managed identity that requests AKS tokens. Empty: the identity this template creates.')
param kubernetesClientId string = ''

@description('Reaper__StateTable: the table of the idle state.')
param stateTableName string = 'EnvoyReaperState'

@description('Reaper__SnapshotContainer: the blob container of the teardown snapshots.')
param snapshotContainerName string = 'envoy-reaper-snapshots'

@description('Days Log Analytics keeps the app\'s logs.')
@minValue(30)
@maxValue(730)
param logRetentionInDays int = 30

@description('Tags for every resource.')
param tags object = {
  application: 'envoy-reaper'
}

var suffix = uniqueString(resourceGroup().id)
var deploymentContainerName = 'app-package-${take(toLower(functionAppName), 32)}'
var injectorDeploymentContainerName = 'app-package-${take(toLower(injectorFunctionAppName), 32)}'

// The same split as the in-cluster Deployments (infra/k8s/app/scheduler.yaml and worker.yaml, injector/injector.yaml).
var reaperFunctions = [
  'DiscoverWorkloads'
  'ListWorkloads'
  'ResetBreaker'
  'CheckStats'
  'TearDown'
]
var injectorFunctions = [
  'InjectSidecar'
  'RemoveSidecar'
  'RestoreWorkload'
  'FinishInjectionRollout'
  'GetInjectionStatus'
  'Wake'
  'Park'
]

module monitoring 'modules/monitoring.bicep' = {
  name: 'envoy-reaper-monitoring'
  params: {
    location: location
    logAnalyticsName: 'log-${baseName}-${suffix}'
    applicationInsightsName: 'appi-${baseName}-${suffix}'
    retentionInDays: logRetentionInDays
    tags: tags
  }
}

module identity 'modules/identity.bicep' = {
  name: 'envoy-reaper-identity'
  params: {
    location: location
    name: 'id-${baseName}-${suffix}'
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'envoy-reaper-storage'
  params: {
    location: location
    name: storageAccountName
    skuName: storageSku
    deploymentContainerName: deploymentContainerName
    additionalDeploymentContainerNames: deployInjector ? [injectorDeploymentContainerName] : []
    snapshotContainerName: snapshotContainerName
    stateTableName: stateTableName
    tags: tags
  }
}

module storageAccess 'modules/storage-access.bicep' = {
  name: 'envoy-reaper-storage-access'
  params: {
    storageAccountName: storage.outputs.name
    principalId: identity.outputs.principalId
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'envoy-reaper-functionapp'
  params: {
    location: location
    planName: 'plan-${baseName}-${suffix}'
    appName: functionAppName
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    reaperSchedule: reaperSchedule
    reaperDryRun: reaperDryRun
    stateTableName: stateTableName
    snapshotContainerName: snapshotContainerName
    kubernetesMode: kubernetesMode
    kubernetesServer: kubernetesServer
    kubernetesClientId: empty(kubernetesClientId) ? identity.outputs.clientId : kubernetesClientId
    functions: deployInjector ? reaperFunctions : []
    tags: tags
  }
  // The host reads its storage and the package container at start: the roles must exist first.
  dependsOn: [
    storageAccess
  ]
}

module injectorIdentity 'modules/identity.bicep' = if (deployInjector) {
  name: 'envoy-reaper-injector-identity'
  params: {
    location: location
    name: 'id-${baseName}-inj-${suffix}'
    tags: tags
  }
}

module injectorStorageAccess 'modules/storage-access.bicep' = if (deployInjector) {
  name: 'envoy-reaper-injector-storage-access'
  params: {
    storageAccountName: storage.outputs.name
    principalId: injectorIdentity!.outputs.principalId
  }
}

module injectorApp 'modules/functionapp.bicep' = if (deployInjector) {
  name: 'envoy-reaper-injector-functionapp'
  params: {
    location: location
    planName: 'plan-${baseName}-inj-${suffix}'
    appName: injectorFunctionAppName
    identityId: injectorIdentity!.outputs.id
    identityClientId: injectorIdentity!.outputs.clientId
    storageAccountName: storage.outputs.name
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: injectorDeploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    // A trickle: requests by people, rollout checks, parks and wakes.
    maximumInstanceCount: 2
    instanceMemoryMB: 2048
    reaperSchedule: reaperSchedule
    reaperDryRun: reaperDryRun
    stateTableName: stateTableName
    snapshotContainerName: snapshotContainerName
    kubernetesMode: kubernetesMode
    kubernetesServer: kubernetesServer
    kubernetesClientId: injectorIdentity!.outputs.clientId
    functions: injectorFunctions
    tags: tags
  }
  dependsOn: [
    injectorStorageAccess
  ]
}

@description('Name of the function app.')
output functionAppName string = functionApp.outputs.name

@description('Default host name of the function app (the HTTP endpoints are https://<host>/api/...).')
output functionAppHostName string = functionApp.outputs.defaultHostName

@description('Resource ID of the app\'s user-assigned managed identity.')
output identityResourceId string = identity.outputs.id

@description('Principal (object) ID of the app\'s identity: the subject to bind in the cluster\'s RBAC.')
output identityPrincipalId string = identity.outputs.principalId

@description('Client ID of the app\'s identity.')
output identityClientId string = identity.outputs.clientId

@description('Name of the injector function app (empty without deployInjector).')
output injectorFunctionAppName string = deployInjector ? injectorApp!.outputs.name : ''

@description('Principal (object) ID of the injector app\'s identity (empty without deployInjector): the subject of the per-namespace envoy-reaper-injector RoleBindings.')
output injectorIdentityPrincipalId string = deployInjector ? injectorIdentity!.outputs.principalId : ''

@description('Name of the storage account.')
output storageAccountName string = storage.outputs.name
