// The app's storage account: queues (stats-check, teardown, inject-rollout and their poison queues), the state table, the snapshot
// container, and the container Flex Consumption deploys the app package from. Shared keys are disabled: every
// client, the Functions host included, authenticates with Entra ID (see storage-access.bicep).

@description('Azure region of the storage account.')
param location string

@description('Name of the storage account (3-24 lowercase letters and digits, globally unique).')
@minLength(3)
@maxLength(24)
param name string

@description('Replication of the storage account.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
])
param skuName string = 'Standard_LRS'

@description('Blob container the Flex Consumption app package is deployed to.')
param deploymentContainerName string

@description('Package containers of further apps on the same account (the injector app).')
param additionalDeploymentContainerNames array = []

@description('Blob container of the teardown snapshots (Reaper__SnapshotContainer).')
param snapshotContainerName string

@description('Table of the idle state (Reaper__StateTable).')
param stateTableName string

@description('Tags for the storage account.')
param tags object = {}

var queueNames = [
  'stats-check'
  'teardown'
  'inject-rollout'
  'park'
  'wake'
  'stats-check-poison'
  'teardown-poison'
  'inject-rollout-poison'
  'park-poison'
  'wake-poison'
]

resource storage 'Microsoft.Storage/storageAccounts@2025-01-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2025-01-01' = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource additionalDeploymentContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01' = [
  for containerName in additionalDeploymentContainerNames: {
    parent: blobService
    name: containerName
    properties: {
      publicAccess: 'None'
    }
  }
]

resource snapshotContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01' = {
  parent: blobService
  name: snapshotContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2025-01-01' = {
  parent: storage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2025-01-01' = [
  for queueName in queueNames: {
    parent: queueService
    name: queueName
  }
]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2025-01-01' = {
  parent: storage
  name: 'default'
}

resource stateTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2025-01-01' = {
  parent: tableService
  name: stateTableName
}

@description('Name of the storage account.')
output name string = storage.name

@description('Blob endpoint of the storage account, ending with a slash.')
output blobEndpoint string = storage.properties.primaryEndpoints.blob
