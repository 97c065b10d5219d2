// The Flex Consumption plan and the function app (Linux, .NET 10 isolated worker, Functions v4), running as the
// user-assigned identity: the host reaches storage through AzureWebJobsStorage__* (no connection string, no keys)
// and Flex Consumption fetches the app package from the deployment container with the same identity.

@description('Azure region of the plan and the app.')
param location string

@description('Name of the Flex Consumption plan.')
param planName string

@description('Name of the function app (also its host name: <name>.azurewebsites.net).')
param appName string

@description('Resource ID of the user-assigned managed identity the app runs as.')
param identityId string

@description('Client ID of the user-assigned managed identity.')
param identityClientId string

@description('Name of the storage account (AzureWebJobsStorage__accountName).')
param storageAccountName string

@description('Blob endpoint of the storage account, ending with a slash.')
param storageBlobEndpoint string

@description('Blob container the app package is deployed to.')
param deploymentContainerName string

@description('Name of the Application Insights component.')
param applicationInsightsName string

@description('Largest number of instances Flex Consumption may scale the app to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int

@description('Memory of each instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

@description('ReaperSchedule: the discovery timer (NCRONTAB with seconds).')
param reaperSchedule string

@description('Reaper__DryRun: true turns every teardown into a WouldTearDown Event.')
param reaperDryRun bool

@description('Reaper__StateTable: the table of the idle state.')
param stateTableName string

@description('Reaper__SnapshotContainer: the blob container of the teardown snapshots.')
param snapshotContainerName string

@description('Kubernetes__Mode: how the app reaches the cluster.')
param kubernetesMode string

@description('Kubernetes__Server: the AKS API server URL.')
param kubernetesServer string

@description('Kubernetes__ClientId: client ID of the managed identity that requests AKS tokens.')
param kubernetesClientId string

@description('The functions this app loads (the host\'s allow list, AzureFunctionsJobHost__functions__N). Empty: all of them.')
param functions array = []

@description('Tags for the plan and the app.')
param tags object = {}

var allowList = [for (functionName, index) in functions: {
  name: 'AzureFunctionsJobHost__functions__${index}'
  value: functionName
}]

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-11-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    // Linux.
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2024-11-01' = {
  name: appName
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      // Flex Consumption takes the runtime from functionAppConfig: FUNCTIONS_WORKER_RUNTIME and
      // FUNCTIONS_EXTENSION_VERSION must not be app settings. Storage is identity-based: no AzureWebJobsStorage
      // connection string exists.
      appSettings: concat([
        {
          name: 'AzureWebJobsStorage__accountName'
          value: storageAccountName
        }
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: identityClientId
        }
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: applicationInsights.properties.ConnectionString
        }
        {
          name: 'ReaperSchedule'
          value: reaperSchedule
        }
        {
          name: 'Reaper__DryRun'
          value: reaperDryRun ? 'true' : 'false'
        }
        {
          name: 'Reaper__StateTable'
          value: stateTableName
        }
        {
          name: 'Reaper__SnapshotContainer'
          value: snapshotContainerName
        }
        {
          name: 'Kubernetes__Mode'
          value: kubernetesMode
        }
        {
          name: 'Kubernetes__Server'
          value: kubernetesServer
        }
        {
          name: 'Kubernetes__ClientId'
          value: kubernetesClientId
        }
      ], allowList)
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'dotnet-isolated'
        version: '10.0'
      }
    }
  }
}

// Deployments authenticate with Entra ID (az functionapp deployment / func azure functionapp publish), never with
// publishing credentials.
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: app
  name: 'scm'
  properties: {
    allow: false
  }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: app
  name: 'ftp'
  properties: {
    allow: false
  }
}

@description('Name of the function app.')
output name string = app.name

@description('Default host name of the function app.')
output defaultHostName string = app.properties.defaultHostName
