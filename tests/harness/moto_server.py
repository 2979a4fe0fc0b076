"""moto_server with the harness's documented extensions loaded (see moto_identity_center.py,
moto_organizations.py and moto_stack_sets.py).
Takes moto_server's own arguments."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import moto_identity_center  # noqa: E402,F401  (patches moto's sso-admin responses)
import moto_organizations  # noqa: E402,F401  (patches moto's Organizations pagination)
import moto_stack_sets  # noqa: E402,F401  (patches moto's CloudFormation StackSets)
from moto.server import main  # noqa: E402

if __name__ == "__main__":
    main()
