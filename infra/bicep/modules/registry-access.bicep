// Role of one environment's deploy identity on the shared promotion registry. Deployed by main.bicep at the
// registry's resource group, which may be another resource group or subscription than the workspace's.
// The name is guid(registry, principal, role): stable across redeployments, so a rerun is a no-op.
//
// Built-in roles (learn.microsoft.com/azure/machine-learning/how-to-manage-registries, "Add users to the
// registry"; ids from learn.microsoft.com/azure/role-based-access-control/built-in-roles):
//   write: AzureML Registry User 1823dd4f-9b8c-4ab6-ab4e-7397a3684615, actions registries/read +
//          registries/assets/*: share (create) models into the registry, but not create, update or delete the
//          registry itself (Contributor/Owner would). The source environment (dev) needs it.
//   read:  Reader acdd72a7-3385-48ef-bd42-f606fba81ae7 ("To let a user only read assets, you can grant the user
//          the built-in Reader role"; it carries registries/read and registries/assets/read): deploy models
//          from the registry. Target environments (prod) need no more.
//
// Workspace identities get nothing here: the registry documentation (how-to-share-models-pipelines-across-
// workspaces-with-registries, how-to-manage-registries) asks registry permissions of the user identity that
// creates the deployment only, and an endpoint's system-assigned identity is granted what it needs by Azure ML
// (concept-endpoints-online-auth, "Automatic role assignment for endpoint identity"). With a private network,
// Azure ML creates the private endpoints to the registry during deployment (how-to-registry-network-isolation).
@minLength(3)
@maxLength(33)
param registryName string

@description('Object id of the identity that gets the role.')
@minLength(1)
param principalId string

@allowed([
  'ServicePrincipal'
  'User'
  'Group'
])
param principalType string = 'ServicePrincipal'

@description('read: Reader (deploy models from the registry); write: AzureML Registry User (share models into it).')
@allowed([
  'read'
  'write'
])
param access string

@description('amlgen environment the role is for (role assignment description only).')
param environmentName string = ''

var readerRole = 'acdd72a7-3385-48ef-bd42-f606fba81ae7' // Reader: registries/read, registries/assets/read (via */read)
var registryUserRole = '1823dd4f-9b8c-4ab6-ab4e-7397a3684615' // AzureML Registry User: registries/read, registries/assets/*
var roleId = (access == 'write') ? registryUserRole : readerRole

resource registry 'Microsoft.MachineLearningServices/registries@2024-10-01' existing = {
  name: registryName
}

resource registryRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, principalId, roleId)
  scope: registry
  properties: {
    principalId: principalId
    principalType: principalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
    description: 'amlgen ${environmentName}: ${access} access to the promotion registry'
  }
}

output roleDefinitionId string = roleId
