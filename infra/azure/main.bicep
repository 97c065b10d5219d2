// EnvoyReaper on Azure: a Flex Consumption function app (.NET 10 isolated) with its storage account, reached only
// through a user-assigned managed identity, Application Insights on a Log Analytics workspace, and the reaper's
// settings. The cluster is reached as Kubernetes__Mode says; AksEntra (the default) gets tokens for the AKS API
// server with the same identity, which needs Kubernetes RBAC on the cluster: bind the ClusterRoles envoy-reaper-discovery
// and envoy-reaper-worker of infra/k8s/rbac.yaml to the output identityPrincipalId (subject kind User, name = that
// object ID) or grant the equivalent Azure RBAC for Kubernetes roles. This one identity runs every function of the app,
// the queue workers that read untrusted Envoys included: do not bind envoy-reaper-injector to it (inject and restore
// then answer 403; use the CLI, or a second app with its own identity bound per namespace, see README "Deploy").
//
//   az deployment group create -g <resource-group> -f infra/azure/main.bicep -p infra/azure/main.bicepparam
//   func azure functionapp publish <functionAppName>   (from src/EnvoyReaper.Functions)

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
    tags: tags
  }
  // The host reads its storage and the package container at start: the roles must exist first.
  dependsOn: [
    storageAccess
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

@description('Name of the storage account.')
output storageAccountName string = storage.outputs.name
