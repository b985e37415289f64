package app

import (
	"fmt"

	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/kubernetes/pkg/features"
)

// SetFeatureDefaults changes the defaults of upstream feature gates that
// distscheduler's design needs set otherwise; call it before flags are
// parsed, so --feature-gates still wins. It changes the process-wide gate,
// as upstream's own commands do.
//
// NominatedNodeNameForExpectation is off: every member parks the pods it bid
// for at Permit until the verdict arrives, and with the gate on upstream
// would write each parked pod's nominatedNodeName to the API from every
// member, for pods most of them are about to drop.
func SetFeatureDefaults() error {
	err := utilfeature.DefaultMutableFeatureGate.SetFromMap(map[string]bool{
		string(features.NominatedNodeNameForExpectation): false,
	})
	if err != nil {
		return fmt.Errorf("set distscheduler feature defaults: %w", err)
	}
	return nil
}
