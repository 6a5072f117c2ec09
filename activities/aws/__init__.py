"""AWS side effects through boto3: capture an EKS cluster's configuration, create a new one."""
