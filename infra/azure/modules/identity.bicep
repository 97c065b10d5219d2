// The user-assigned managed identity the function app runs as: storage (AzureWebJobsStorage__*), the deployment
// package container and, in Kubernetes__Mode AksEntra, the tokens for the AKS API server.

@description('Azure region of the identity.')
param location string

@description('Name of the user-assigned managed identity.')
param name string

@description('Tags for the identity.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

@description('Resource ID of the identity.')
output id string = identity.id

@description('Name of the identity.')
output name string = identity.name

@description('Client (application) ID of the identity.')
output clientId string = identity.properties.clientId

@description('Principal (object) ID of the identity, for role assignments and Kubernetes RBAC bindings.')
output principalId string = identity.properties.principalId
