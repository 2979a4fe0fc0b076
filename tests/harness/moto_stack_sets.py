"""CloudFormation StackSets as AWS documents them, where moto 5.2.5 is simpler than AWS.
Loaded into moto_server by moto_server.py for the end-to-end tests; it makes moto behave
more like AWS, never accept what AWS refuses.

References (AWS CloudFormation API Reference and User Guide):
- Operations are asynchronous: CreateStackInstances, UpdateStackSet, DeleteStackInstances
  answer an OperationId at once, and DescribeStackSetOperation reports RUNNING until the
  operation ends (moto ends every operation at once). Here an operation is RUNNING for
  MOTO_STACK_SET_OPERATION_SECONDS (default 0, moto's behaviour).
  https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackSetOperation.html
- One operation per stack set at a time: a second one is refused with
  OperationInProgressException ("Another operation is currently in progress for this
  stack set. Only one operation can be performed for a stack set at a given time.").
  The same holds for DeleteStackSet.
  https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStackInstances.html
- DeploymentTargets of a service-managed stack set: an OU means every account in it and
  in the OUs below it (moto expands one level); AccountFilterType INTERSECTION narrows it
  to the listed Accounts, DIFFERENCE removes them (moto ignores the filter); the
  organization's management account never gets an instance.
  https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DeploymentTargets.html
  https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-orgs-manage-auto-deployment.html
- DeleteStackInstances takes the same DeploymentTargets (moto reads only Accounts, so a
  deletion by OU deletes nothing), and RetainStacks keeps the stacks in the accounts
  while taking them out of the stack set.
  https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DeleteStackInstances.html
"""

import os
import time

from moto.cloudformation import models
from moto.cloudformation.exceptions import CloudFormationError
from moto.cloudformation.responses import CloudFormationResponse
from moto.core.responses import ActionResult
from moto.moto_api._internal import mock_random

OPERATION_SECONDS = float(os.environ.get("MOTO_STACK_SET_OPERATION_SECONDS", "0"))


class OperationInProgressException(CloudFormationError):
    code = "OperationInProgressException"
    # moto finds an error's service from the module that defines it.
    __module__ = "moto.cloudformation.exceptions"

    def __init__(self):
        super().__init__(
            "Another operation is currently in progress for this stack set. Only one operation can be "
            "performed for a stack set at a given time."
        )


# Asynchronous operations, one at a time ------------------------------------------------

_moto_create_operation = models.StackSet._create_operation


def _create_operation(self, operation_id, action, status, accounts=None, regions=None):
    operation = _moto_create_operation(self, operation_id, action, status, accounts, regions)
    if OPERATION_SECONDS > 0 and status == "SUCCEEDED":
        operation["Status"] = "RUNNING"
        operation["_ends_at"] = time.monotonic() + OPERATION_SECONDS
    return operation


def _settle(stack_set):
    for operation in stack_set.operations:
        if operation["Status"] == "RUNNING" and time.monotonic() >= operation.get("_ends_at", 0):
            operation["Status"] = "SUCCEEDED"


def _refuse_while_running(stack_set):
    _settle(stack_set)
    if any(o["Status"] == "RUNNING" for o in stack_set.operations):
        raise OperationInProgressException()


def _one_at_a_time(method):
    def guarded(self, stackset_name, *args, **kwargs):
        _refuse_while_running(self.describe_stack_set(stackset_name))
        return method(self, stackset_name, *args, **kwargs)

    return guarded


def _settled(method):
    def reading(self, stackset_name, *args, **kwargs):
        _settle(self.describe_stack_set(stackset_name))
        return method(self, stackset_name, *args, **kwargs)

    return reading


_moto_delete_stack_set = models.CloudFormationBackend.delete_stack_set


def delete_stack_set(self, name):
    try:
        stack_set = self.describe_stack_set(name)
    except CloudFormationError:
        return _moto_delete_stack_set(self, name)
    _refuse_while_running(stack_set)
    return _moto_delete_stack_set(self, name)


# Deployment targets ----------------------------------------------------------------------


def _accounts_of(instances, deployment_targets):
    """The accounts DeploymentTargets name, as AWS expands them."""
    org = instances.org_backend
    ous = set(deployment_targets.get("OrganizationalUnitIds", []))
    listed = deployment_targets.get("Accounts", [])
    if not ous:
        return list(listed)
    parents = {ou.id: ou.parent_id for ou in org.ou}

    def under(parent_id):
        while parent_id is not None:
            if parent_id in ous:
                return True
            parent_id = parents.get(parent_id)
        return False

    management = org.org.master_account_id if org.org else None
    accounts = [a.id for a in org.accounts if a.id != management and under(a.parent_id)]
    match deployment_targets.get("AccountFilterType", "NONE"):
        case "INTERSECTION":
            accounts = [a for a in accounts if a in listed]
        case "DIFFERENCE":
            accounts = [a for a in accounts if a not in listed]
        case "UNION":
            accounts += [a for a in listed if a not in accounts]
    return accounts


_moto_create_instances = models.StackInstances.create_instances


def create_instances(self, accounts, regions, parameters, deployment_targets, permission_model):
    if deployment_targets.get("OrganizationalUnitIds"):
        accounts = _accounts_of(self, deployment_targets)
        deployment_targets = {}
    return _moto_create_instances(self, accounts, regions, parameters, deployment_targets, permission_model)


def delete_stack_instances(self):
    stack_set = self.cloudformation_backend.describe_stack_set(self._get_param("StackSetName"))
    _refuse_while_running(stack_set)
    targets = self._get_params().get("DeploymentTargets") or {}
    accounts = self._get_param("Accounts", []) or _accounts_of(stack_set.instances, targets)
    regions = self._get_param("Regions", [])
    retain = str(self._get_param("RetainStacks", "false")).lower() == "true"
    chosen = [i for i in stack_set.instances.stack_instances if i.account_id in accounts and i.region_name in regions]
    for instance in chosen:
        if not retain:
            instance.delete()
        stack_set.instances.stack_instances.remove(instance)
    operation = stack_set._create_operation(
        operation_id=self._get_param("OperationId") or str(mock_random.uuid4()),
        action="DELETE",
        status="SUCCEEDED",
        accounts=accounts,
        regions=regions,
    )
    return ActionResult({"OperationId": operation["OperationId"]})


models.StackSet._create_operation = _create_operation
models.StackInstances.create_instances = create_instances
models.CloudFormationBackend.create_stack_instances = _one_at_a_time(models.CloudFormationBackend.create_stack_instances)
models.CloudFormationBackend.update_stack_set = _one_at_a_time(models.CloudFormationBackend.update_stack_set)
models.CloudFormationBackend.delete_stack_set = delete_stack_set
models.CloudFormationBackend.describe_stack_set_operation = _settled(
    models.CloudFormationBackend.describe_stack_set_operation
)
models.CloudFormationBackend.list_stack_set_operations = _settled(models.CloudFormationBackend.list_stack_set_operations)
CloudFormationResponse.delete_stack_instances = delete_stack_instances
