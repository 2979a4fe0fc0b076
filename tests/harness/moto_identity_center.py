"""IAM Identity Center (sso-admin) as AWS documents it, where moto 5.2.5 lacks a call or
is more lenient than AWS. Loaded into moto_server by moto_server.py for the end-to-end
tests; it only adds missing calls and refuses what AWS refuses, never the reverse.

References (AWS IAM Identity Center API Reference):
- TagResource, UntagResource, ListTagsForResource: tags of a permission set.
  https://docs.aws.amazon.com/singlesignon/latest/APIReference/API_TagResource.html
- PutPermissionsBoundaryToPermissionSet, GetPermissionsBoundaryForPermissionSet,
  DeletePermissionsBoundaryFromPermissionSet; Get answers ResourceNotFoundException when
  the permission set has no boundary.
  https://docs.aws.amazon.com/singlesignon/latest/APIReference/API_PutPermissionsBoundaryToPermissionSet.html
- CreatePermissionSet: names are unique in an instance; a second one with the same name
  is a ConflictException. Without SessionDuration the session lasts PT1H (moto stores the
  number 3600 instead, which no SDK can read back).
  https://docs.aws.amazon.com/singlesignon/latest/APIReference/API_CreatePermissionSet.html
- UpdatePermissionSet: changes only the attributes given (moto resets the others, the
  session duration to the number 3600).
  https://docs.aws.amazon.com/singlesignon/latest/APIReference/API_UpdatePermissionSet.html
- CreateAccountAssignment: an assignment is one (principal, account, permission set);
  asking again does not make a second one.
  https://docs.aws.amazon.com/singlesignon/latest/APIReference/API_CreateAccountAssignment.html
- DeletePermissionSet: refused with ConflictException while the permission set is still
  assigned.
  https://docs.aws.amazon.com/singlesignon/latest/APIReference/API_DeletePermissionSet.html
- ProvisionPermissionSet / DescribePermissionSetProvisioningStatus: a provisioning is
  looked up by its request id.
  https://docs.aws.amazon.com/singlesignon/latest/APIReference/API_DescribePermissionSetProvisioningStatus.html
- ListAccountsForProvisionedPermissionSet: the accounts the permission set is provisioned
  to, which an assignment does on its own.
  https://docs.aws.amazon.com/singlesignon/latest/APIReference/API_ListAccountsForProvisionedPermissionSet.html
"""

import json
import uuid

from moto.core.utils import unix_time
from moto.ssoadmin.exceptions import ConflictException, ResourceNotFoundException
from moto.ssoadmin.responses import SSOAdminResponse


def _params(response):
    return json.loads(response.body or "{}")


def _permission_set(response, params, key="PermissionSetArn"):
    return response.ssoadmin_backend._find_permission_set(params["InstanceArn"], params[key])


# Tags --------------------------------------------------------------------------------


def tag_resource(self):
    params = _params(self)
    permission_set = _permission_set(self, params, "ResourceArn")
    tags = {t["Key"]: t["Value"] for t in permission_set.tags or []}
    tags.update({t["Key"]: t["Value"] for t in params.get("Tags", [])})
    if len(tags) > 50:
        raise ConflictException("a resource can have at most 50 tags")
    permission_set.tags = [{"Key": k, "Value": v} for k, v in tags.items()]
    return "{}"


def untag_resource(self):
    params = _params(self)
    permission_set = _permission_set(self, params, "ResourceArn")
    removed = set(params.get("TagKeys", []))
    permission_set.tags = [t for t in permission_set.tags or [] if t["Key"] not in removed]
    return "{}"


def list_tags_for_resource(self):
    params = _params(self)
    permission_set = _permission_set(self, params, "ResourceArn")
    return json.dumps({"Tags": list(permission_set.tags or [])})


# Permissions boundary ----------------------------------------------------------------


def put_permissions_boundary_to_permission_set(self):
    params = _params(self)
    _permission_set(self, params).orgops_boundary = params["PermissionsBoundary"]
    return "{}"


def get_permissions_boundary_for_permission_set(self):
    params = _params(self)
    boundary = getattr(_permission_set(self, params), "orgops_boundary", None)
    if boundary is None:
        raise ResourceNotFoundException("The permission set has no permissions boundary")
    return json.dumps({"PermissionsBoundary": boundary})


def delete_permissions_boundary_from_permission_set(self):
    params = _params(self)
    permission_set = _permission_set(self, params)
    if getattr(permission_set, "orgops_boundary", None) is None:
        raise ResourceNotFoundException("The permission set has no permissions boundary")
    permission_set.orgops_boundary = None
    return "{}"


# Uniqueness and deletion -------------------------------------------------------------

_create_permission_set = SSOAdminResponse.create_permission_set
_delete_permission_set = SSOAdminResponse.delete_permission_set
_create_account_assignment = SSOAdminResponse.create_account_assignment


def create_permission_set(self):
    params = _params(self)
    for existing in self.ssoadmin_backend.permission_sets:
        if existing.instance_arn == params.get("InstanceArn") and existing.name == params.get("Name"):
            raise ConflictException(f"A permission set named {existing.name} already exists")
    _create_permission_set(self)
    created = self.ssoadmin_backend.permission_sets[-1]
    if not isinstance(created.session_duration, str):
        created.session_duration = "PT1H"
    return json.dumps({"PermissionSet": created.to_json(True)})


def update_permission_set(self):
    params = _params(self)
    permission_set = _permission_set(self, params)
    for key, attribute in [
        ("Description", "description"),
        ("SessionDuration", "session_duration"),
        ("RelayState", "relay_state"),
    ]:
        if key in params:
            setattr(permission_set, attribute, params[key])
    return "{}"


def delete_permission_set(self):
    params = _params(self)
    for assignment in self.ssoadmin_backend.account_assignments:
        if assignment.permission_set_arn == params.get("PermissionSetArn"):
            raise ConflictException("The permission set is still assigned; delete its account assignments first")
    return _delete_permission_set(self)


def create_account_assignment(self):
    params = _params(self)
    for assignment in self.ssoadmin_backend.account_assignments:
        same = (
            assignment.instance_arn == params.get("InstanceArn")
            and assignment.target_id == params.get("TargetId")
            and assignment.permission_set_arn == params.get("PermissionSetArn")
            and assignment.principal_type == params.get("PrincipalType")
            and assignment.principal_id == params.get("PrincipalId")
        )
        if same:
            summary = assignment.to_json(include_creation_date=True, include_request_id=True)
            summary["Status"] = "SUCCEEDED"
            return json.dumps({"AccountAssignmentCreationStatus": summary})
    return _create_account_assignment(self)


# Provisioning ------------------------------------------------------------------------


def _provisioning(backend):
    if not hasattr(backend, "orgops_provisioning"):
        backend.orgops_provisioning = {}
    return backend.orgops_provisioning


def provision_permission_set(self):
    params = _params(self)
    _permission_set(self, params)
    status = {
        "CreatedDate": unix_time(),
        "PermissionSetArn": params["PermissionSetArn"],
        "RequestId": str(uuid.uuid4()),
        "Status": "SUCCEEDED",
    }
    if params.get("TargetType") == "AWS_ACCOUNT":
        status["AccountId"] = params.get("TargetId")
    _provisioning(self.ssoadmin_backend)[status["RequestId"]] = status
    return json.dumps({"PermissionSetProvisioningStatus": status})


def describe_permission_set_provisioning_status(self):
    params = _params(self)
    status = _provisioning(self.ssoadmin_backend).get(params.get("ProvisionPermissionSetRequestId"))
    if status is None:
        raise ResourceNotFoundException("No provisioning request with that id")
    return json.dumps({"PermissionSetProvisioningStatus": status})


def list_accounts_for_provisioned_permission_set(self):
    params = _params(self)
    accounts = sorted(
        {
            a.target_id
            for a in self.ssoadmin_backend.account_assignments
            if a.permission_set_arn == params.get("PermissionSetArn")
        }
    )
    return json.dumps({"AccountIds": accounts})


for _function in [
    tag_resource,
    untag_resource,
    list_tags_for_resource,
    put_permissions_boundary_to_permission_set,
    get_permissions_boundary_for_permission_set,
    delete_permissions_boundary_from_permission_set,
    create_permission_set,
    update_permission_set,
    delete_permission_set,
    create_account_assignment,
    provision_permission_set,
    describe_permission_set_provisioning_status,
    list_accounts_for_provisioned_permission_set,
]:
    setattr(SSOAdminResponse, _function.__name__, _function)
